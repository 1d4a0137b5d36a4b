//! OIDC login end to end: a browser without scripts
//! logs in at a real OpenID Provider (node-oidc-provider, its dev login
//! form) through tokengate's `[[oidc_providers]]` routes, uses the session
//! cookies, logs in again, and logs out at the provider (RP-initiated
//! logout). The provider registers tokengate's callback URL at its start,
//! so tokengate listens on a port chosen first.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Url};
use serde_json::Value;
use tokengate::keys::{Jwk, VerifyingKey};

use crate::common::{Api, Resp, TestDir, claims, free_port, jwt_part};
use crate::fake_oidc::{FAKE, FakeProvider, Rig, sha256};
use crate::oidc_provider::{OidcProvider, WEB_CLIENT_ID, WEB_CLIENT_SECRET, form};
use crate::rp::{
    Browser, CSRF_COOKIES, JWT_COOKIES, LoginStart, ProviderEntry, Session, assert_cleared,
    assert_linked, callback, callback_url, get_with_cookie, home_url, local_target, location, me,
    query_map, start_login, start_rp, user_count,
};

const PASSWORD: &str = "correct horse battery";

/// The provider's name in tokengate's config.
pub(crate) const DEV: &str = "dev";

/// Drives the provider from an authorization request to its redirect back:
/// the dev login form (as `user`, any password), a consent form if one is
/// shown, or nothing at all when the provider's session already knows the
/// user. Returns the URL the provider sends the browser to, which must be
/// `redirect_uri`.
pub(crate) async fn sign_in_at_provider(
    browser: &mut Browser,
    authorization_url: &Url,
    user: &str,
    redirect_uri: &str,
) -> Url {
    let mut url = authorization_url.clone();
    for _ in 0..10 {
        let resp = browser.get(&url).await;
        let next = match resp.status {
            302 | 303 => location(&resp, url.as_str()),
            200 => {
                let page = resp.text();
                let fields: Vec<(&str, &str)> = if page.contains(r#"name="prompt" value="login""#) {
                    vec![("prompt", "login"), ("login", user), ("password", "x")]
                } else if page.contains(r#"name="prompt" value="consent""#) {
                    vec![("prompt", "consent")]
                } else {
                    panic!("neither a login nor a consent form at {url}: {resp:?}")
                };
                // The dev forms post to the page's own URL.
                let posted = browser.post_form(&url, &fields).await;
                assert!(
                    matches!(posted.status, 302 | 303),
                    "the provider refused the form: {posted:?}"
                );
                location(&posted, url.as_str())
            }
            _ => panic!("the provider refused the authorization request: {resp:?}"),
        };
        if next.as_str().starts_with(redirect_uri) {
            return next;
        }
        url = next;
    }
    panic!("no redirect to {redirect_uri} after 10 steps from {authorization_url}");
}

/// A login through tokengate: `GET /auth/oidc/dev/login[?raw_query]`, the
/// provider's pages, then the callback with the state cookie. Returns the
/// login's start and the callback's answer.
async fn oidc_login(
    api: &Api,
    browser: &mut Browser,
    provider: &OidcProvider,
    user: &str,
    raw_query: Option<&str>,
) -> (LoginStart, Resp) {
    let port = api.addr().rsplit(':').next().unwrap().parse().unwrap();
    let start = start_login(api, DEV, raw_query, &format!("{}/auth", provider.issuer())).await;
    let back = sign_in_at_provider(browser, &start.url, user, &callback_url(port, DEV)).await;
    let params = query_map(&back);
    assert!(params.get("code").is_some_and(|c| !c.is_empty()), "{back}");
    assert_eq!(params.get("state"), Some(&start.state), "{back}");
    assert_eq!(
        params.get("iss").map(String::as_str),
        Some(provider.issuer()),
        "{back}"
    );
    let resp = callback(
        api,
        DEV,
        back.query().expect("a query"),
        Some(&start.cookie_header()),
        None,
    )
    .await;
    (start, resp)
}

/// The id token `token` was signed by a key of the provider's JWKS.
async fn assert_signed_by(provider: &OidcProvider, token: &str) {
    let header = jwt_part(token, 0);
    let jwks = provider.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("{header} not in {jwks}"));
    let jwk: Jwk = serde_json::from_value(jwk.clone()).expect("a JWK");
    let key = VerifyingKey::from_jwk(&jwk, None).expect("a verifying key");
    let (input, sig) = token.rsplit_once('.').expect("a JWS");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
    assert!(
        key.verify_signature(input.as_bytes(), &sig),
        "not signed by the provider: {header}"
    );
}

/// The harness alone, without tokengate's OIDC routes: the provider shows
/// its login form, sends a code to the registered callback URL, and
/// exchanges it (once) for an ID token with the nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_issues_codes_to_the_registered_callback() {
    let port = free_port();
    let redirect = callback_url(port, DEV);
    let provider = OidcProvider::start_for_web(&redirect, &home_url(port));
    let verifier = "a-pkce-verifier-of-the-harness-that-is-long-enough-0123";
    let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    let query = form(&[
        ("response_type", "code"),
        ("client_id", WEB_CLIENT_ID),
        ("redirect_uri", &redirect),
        ("scope", "openid profile email"),
        ("state", "harness-state"),
        ("nonce", "harness-nonce"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let auth = Url::parse(&format!("{}/auth?{query}", provider.issuer())).unwrap();
    let mut browser = Browser::new();
    let back = sign_in_at_provider(&mut browser, &auth, "alice", &redirect).await;
    let params = query_map(&back);
    assert_eq!(params["state"], "harness-state", "{back}");
    assert_eq!(params["iss"], provider.issuer(), "{back}");
    let code = &params["code"];

    let token = Api::at(provider.issuer());
    let exchange = || {
        token.send(
            token
                .request(Method::POST, "/token")
                .basic_auth(WEB_CLIENT_ID, Some(WEB_CLIENT_SECRET))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", verifier),
                ])),
        )
    };
    let answer = exchange().await.expect(200).json();
    let id_token = answer["id_token"].as_str().expect("an id_token");
    let id = claims(id_token);
    assert_eq!(id["iss"], provider.issuer(), "{id}");
    assert_eq!(id["aud"], WEB_CLIENT_ID, "{id}");
    assert_eq!(id["sub"], "alice", "{id}");
    assert_eq!(id["nonce"], "harness-nonce", "{id}");
    assert_signed_by(&provider, id_token).await;
    let again = exchange().await.expect(400).json();
    assert_eq!(again["error"], "invalid_grant", "{again}");

    // The provider's session now knows alice: a second request goes
    // straight back, without a form.
    let back = sign_in_at_provider(&mut browser, &auth, "alice", &redirect).await;
    assert!(query_map(&back).contains_key("code"), "{back}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_a_real_provider_then_logout() {
    let port = free_port();
    let provider = OidcProvider::start_for_web(&callback_url(port, DEV), &home_url(port));
    let dir = TestDir::new("oidc-login");
    let server = start_rp(
        &dir,
        port,
        &[ProviderEntry {
            name: DEV,
            issuer: provider.issuer(),
        }],
    );
    let api = server.api();
    // A local account with the provider user's name: the OIDC login must
    // never land in it (users are linked by provider and sub, not by name).
    let local = api.register_ok("alice", PASSWORD).await;

    let mut browser = Browser::new();
    let (_, resp) = oidc_login(
        api,
        &mut browser,
        &provider,
        "alice",
        Some("next=%2Fapi%2Fprivate"),
    )
    .await;
    assert_eq!(local_target(api, &resp), "/api/private");
    let first = Session::from(&resp);
    get_with_cookie(api, "/api/private", &first.access.pair())
        .await
        .expect(200);
    let me_first = me(api, &first).await;
    assert_linked(&me_first, DEV, "alice");
    assert_ne!(
        me_first["id"], local["id"],
        "the local alice was taken over"
    );
    // The access token works as a bearer token too.
    let by_bearer = api
        .get_bearer("/auth/me", &first.access.value)
        .await
        .expect(200)
        .json();
    assert_eq!(by_bearer["id"], me_first["id"]);
    assert_eq!(user_count(&dir), 2, "the local alice and the linked one");
    // The local alice still logs in as herself.
    let pair = api.login_ok("alice", PASSWORD).await;
    let local_me = api
        .get_bearer("/auth/me", &pair.access)
        .await
        .expect(200)
        .json();
    assert_eq!(local_me["id"], local["id"]);

    // Again: the provider's session skips its form; the same local user.
    let (second_start, resp) = oidc_login(api, &mut browser, &provider, "alice", None).await;
    assert_eq!(local_target(api, &resp), "/");
    let second = Session::from(&resp);
    assert_ne!(second.access.value, first.access.value);
    let me_second = me(api, &second).await;
    assert_eq!(me_second["id"], me_first["id"], "{me_second} vs {me_first}");
    assert_eq!(user_count(&dir), 2);

    // Logout of the second session: its cookies cleared, then the
    // provider's end-session endpoint with that login's ID token.
    let resp = get_with_cookie(api, &format!("/auth/oidc/{DEV}/logout"), &second.header())
        .await
        .expect(303);
    for name in JWT_COOKIES.iter().chain(&CSRF_COOKIES) {
        assert_cleared(&resp, name);
    }
    let end = location(&resp, &format!("{}/", api.base()));
    assert_eq!(
        format!("{}{}", end.origin().ascii_serialization(), end.path()),
        format!("{}/session/end", provider.issuer()),
        "{resp:?}"
    );
    let params = query_map(&end);
    assert_eq!(
        params.get("post_logout_redirect_uri"),
        Some(&home_url(port)),
        "{end}"
    );
    let hint = params
        .get("id_token_hint")
        .unwrap_or_else(|| panic!("no id_token_hint: {end}"));
    assert_signed_by(&provider, hint).await;
    let hinted = claims(hint);
    assert_eq!(hinted["iss"], provider.issuer(), "{hinted}");
    assert_eq!(hinted["aud"], WEB_CLIENT_ID, "{hinted}");
    assert_eq!(hinted["sub"], "alice", "{hinted}");
    assert_eq!(
        hinted["nonce"], second_start.nonce,
        "that login's: {hinted}"
    );

    // The provider takes both: it asks to confirm, then sends the browser
    // back to tokengate's home.
    let page = browser.get(&end).await.expect(200);
    let text = page.text();
    let xsrf = text
        .split(r#"name="xsrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no logout form: {page:?}"));
    let confirm = Url::parse(&format!("{}/session/end/confirm", provider.issuer())).unwrap();
    let done = browser
        .post_form(&confirm, &[("xsrf", xsrf), ("logout", "yes")])
        .await;
    assert!(matches!(done.status, 302 | 303), "{done:?}");
    assert_eq!(
        location(&done, confirm.as_str()).as_str(),
        home_url(port),
        "{done:?}"
    );

    // The second session's tokens are revoked; the first login is another
    // session and stays.
    get_with_cookie(api, "/api/private", &second.access.pair())
        .await
        .expect_token_error("token_revoked");
    api.send(
        api.request(Method::POST, "/auth/session/refresh")
            .header("cookie", second.header())
            .header("x-csrf-token", &second.csrf_refresh.value),
    )
    .await
    .expect_token_error("token_revoked");
    get_with_cookie(api, "/api/private", &first.access.pair())
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_users_map_to_their_own_local_users() {
    let port = free_port();
    let provider = OidcProvider::start_for_web(&callback_url(port, DEV), &home_url(port));
    let dir = TestDir::new("oidc-users");
    let server = start_rp(
        &dir,
        port,
        &[ProviderEntry {
            name: DEV,
            issuer: provider.issuer(),
        }],
    );
    let api = server.api();
    let mut ids = Vec::new();
    for user in ["alice", "bob", "alice"] {
        // A browser each: no provider session carries over.
        let mut browser = Browser::new();
        let (_, resp) = oidc_login(api, &mut browser, &provider, user, None).await;
        let session = Session::from(&resp);
        let me: Value = me(api, &session).await;
        assert_linked(&me, DEV, user);
        ids.push(me["id"].clone());
    }
    assert_ne!(ids[0], ids[1], "alice and bob are one user");
    assert_eq!(ids[0], ids[2], "alice got a second user");
    assert_eq!(user_count(&dir), 2);
}

/// With a provider of the test's own, the exact ID token it issued is the
/// logout's `id_token_hint`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_hint_is_the_id_token_of_that_login() {
    let rig = Rig::start("oidc-logout-hint").await;
    let api = rig.api();
    let (resp, first_id_token) = rig.log_in("frank", None).await;
    let first = Session::from(&resp);
    let (resp, second_id_token) = rig.log_in("frank", None).await;
    let second = Session::from(&resp);
    assert_ne!(first_id_token, second_id_token);

    for (session, id_token) in [(&first, &first_id_token), (&second, &second_id_token)] {
        let resp = get_with_cookie(api, &format!("/auth/oidc/{FAKE}/logout"), &session.header())
            .await
            .expect(303);
        for name in JWT_COOKIES.iter().chain(&CSRF_COOKIES) {
            assert_cleared(&resp, name);
        }
        let end = location(&resp, &format!("{}/", api.base()));
        assert_eq!(
            format!("{}{}", end.origin().ascii_serialization(), end.path()),
            rig.fake.end_session_endpoint(),
            "{resp:?}"
        );
        let params = query_map(&end);
        assert_eq!(params.get("id_token_hint"), Some(id_token), "{end}");
        assert_eq!(
            params.get("post_logout_redirect_uri"),
            Some(&home_url(rig.port)),
            "{end}"
        );
        get_with_cookie(api, "/api/private", &session.access.pair())
            .await
            .expect_token_error("token_revoked");
    }
}

/// A provider without an end-session endpoint: logout ends tokengate's
/// session and goes home.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_end_session_goes_home() {
    let rig = Rig::around(
        "oidc-logout-home",
        FakeProvider::without_end_session().await,
    );
    let api = rig.api();
    let (resp, _) = rig.log_in("grace", None).await;
    let session = Session::from(&resp);
    let resp = get_with_cookie(api, &format!("/auth/oidc/{FAKE}/logout"), &session.header())
        .await
        .expect(303);
    for name in JWT_COOKIES.iter().chain(&CSRF_COOKIES) {
        assert_cleared(&resp, name);
    }
    assert_eq!(local_target(api, &resp), "/");
    get_with_cookie(api, "/api/private", &session.access.pair())
        .await
        .expect_token_error("token_revoked");
}

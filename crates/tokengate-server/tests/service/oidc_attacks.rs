//! OIDC login against a misbehaving provider: forged
//! ID tokens, state and code replays, a provider's error, a mix-up between
//! two providers. Every refused callback answers 400 with the `{"code","msg"}` body,
//! sets no session cookie and creates no user.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, Kid, SigningKey, VerifyingKey};

use crate::common::{TestDir, free_port};
use crate::fake_oidc::{
    FAKE, FakeProvider, Rig, at_hash, b64_json, now, sha256, sign_jwt, token_response,
};
use crate::oidc_provider::{WEB_CLIENT_ID, WEB_CLIENT_SECRET};
use crate::rp::{
    LoginStart, ProviderEntry, STATE_COOKIE, Session, assert_linked, assert_no_session, callback,
    callback_query, expect_refused, local_target, me, start_login, start_rp, user_count,
};

/// The error codes of a refused callback, one place to change them:
/// a bad, missing, reused or foreign `state`, or an `iss` of another provider.
const STATE_ERROR: &str = "invalid_request";
/// The provider answered `?error=...`.
const PROVIDER_ERROR: &str = "invalid_request";
/// The token endpoint refused the code.
const EXCHANGE_ERROR: &str = "invalid_request";
/// The ID token failed a check, with the token error codes: a bad
/// signature, algorithm or shape (or no ID token at all) is `invalid_token`,
/// as is an `iat` in the future (like `nbf`); a wrong or missing claim is
/// `invalid_claims`; a passed `exp` is `token_expired`.
const BAD_TOKEN: &str = "invalid_token";
const BAD_CLAIMS: &str = "invalid_claims";
const EXPIRED: &str = "token_expired";

/// What a browser sends when it navigates.
const HTML_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The fake provider itself works: discovery, a JWKS that verifies what it
/// signs, each scripted code exchanged once. (Runs without tokengate's OIDC
/// routes: when the tests below fail, the harness is not the reason.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_provider_self_check() {
    let fake = FakeProvider::start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            fake.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], fake.issuer());
    assert_eq!(
        discovery["end_session_endpoint"],
        fake.end_session_endpoint()
    );
    let jwks: Value = http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = VerifyingKey::from_jwk(&jwk, None).unwrap();
    let id_token = fake.grant("c", "sam", "n");
    let (input, sig) = id_token.rsplit_once('.').unwrap();
    assert!(key.verify_signature(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap()));

    let exchange = || {
        http.post(discovery["token_endpoint"].as_str().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=authorization_code&code=c")
            .send()
    };
    let first = exchange().await.unwrap();
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["id_token"], id_token);
    let second = exchange().await.unwrap();
    assert_eq!(second.status(), 400);
    assert_eq!(fake.token_calls(), 2);
    assert_eq!(fake.token_requests()[0].form["code"], "c");

    let quiet = FakeProvider::without_end_session().await;
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            quiet.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery.get("end_session_endpoint").is_none(),
        "{discovery}"
    );
}

/// The good path through the fake provider, and what tokengate sends to
/// its token endpoint: the code, the redirect URI, the PKCE verifier of the
/// challenge, and the client's secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_login_through_the_fake_provider() {
    let rig = Rig::start("oidc-fake-ok").await;
    let api = rig.api();
    let login = rig.login(None).await;
    let code = rig.new_code();
    rig.fake.grant(&code, "sam", &login.nonce);
    let resp = rig.callback(&login, &code).await;
    assert_eq!(local_target(api, &resp), "/");
    let session = Session::from(&resp);
    let me = me(api, &session).await;
    assert_linked(&me, FAKE, "sam");
    assert_eq!(user_count(&rig.dir), 1);

    let requests = rig.fake.token_requests();
    let [request] = &requests[..] else {
        panic!("one exchange: {requests:?}")
    };
    let form = &request.form;
    assert_eq!(form["grant_type"], "authorization_code", "{request:?}");
    assert_eq!(form["code"], code, "{request:?}");
    assert_eq!(
        form["redirect_uri"],
        crate::rp::callback_url(rig.port, FAKE),
        "{request:?}"
    );
    let verifier = &form["code_verifier"];
    assert!((43..=128).contains(&verifier.len()), "{request:?}");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())),
        login.code_challenge,
        "the verifier of the login's challenge: {request:?}"
    );
    // client_secret_basic or client_secret_post.
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{WEB_CLIENT_ID}:{WEB_CLIENT_SECRET}"))
    );
    let by_header = request.authorization.as_deref() == Some(basic.as_str());
    let by_body = form.get("client_id").map(String::as_str) == Some(WEB_CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(WEB_CLIENT_SECRET);
    assert!(
        by_header || by_body,
        "no client authentication: {request:?}"
    );
}

/// A good token answer for `login`, as the provider would sign it, with
/// `change` applied to the ID token's claims first.
fn claims_changed(fake: &FakeProvider, login: &LoginStart, change: fn(&mut Value)) -> Value {
    let access_token = "opaque-access-token";
    let mut claims = fake.id_claims("mallory", &login.nonce, access_token);
    change(&mut claims);
    token_response(&fake.sign(&claims), access_token)
}

/// The token answer of each forgery, built for the login it answers.
type Forgery = fn(&FakeProvider, &LoginStart) -> Value;

/// Each forged ID token must be refused, with this code.
fn forgeries() -> Vec<(&'static str, &'static str, Forgery)> {
    vec![
        ("alg none", BAD_TOKEN, |f, l| {
            let access = "opaque-access-token";
            let claims = f.id_claims("mallory", &l.nonce, access);
            let header = json!({"alg": "none", "typ": "JWT"});
            let token = format!("{}.{}.", b64_json(&header), b64_json(&claims));
            token_response(&token, access)
        }),
        (
            "alg HS256 keyed with the provider's public key",
            BAD_TOKEN,
            |f, l| {
                let access = "opaque-access-token";
                let claims = f.id_claims("mallory", &l.nonce, access);
                let pem = f.key().verifying_key().public_key_pem().unwrap();
                let hmac = SigningKey::from_secret(Algorithm::HS256, pem.as_bytes()).unwrap();
                let header = json!({"alg": "HS256", "typ": "JWT", "kid": f.key().kid().as_str()});
                token_response(&sign_jwt(&hmac, &header, &claims), access)
            },
        ),
        (
            "signed by another key under the provider's kid",
            BAD_TOKEN,
            |f, l| {
                let access = "opaque-access-token";
                let claims = f.id_claims("mallory", &l.nonce, access);
                let other = SigningKey::generate(Algorithm::RS256)
                    .unwrap()
                    .with_kid(Kid::new(f.key().kid().as_str()));
                token_response(&sign_jwt(&other, &f.header(), &claims), access)
            },
        ),
        ("claims changed after signing", BAD_TOKEN, |f, l| {
            let access = "opaque-access-token";
            let claims = f.id_claims("mallory", &l.nonce, access);
            let signed = f.sign(&claims);
            let sig = signed.rsplit('.').next().unwrap();
            let mut changed = claims.clone();
            changed["sub"] = json!("admin");
            let token = format!("{}.{}.{sig}", b64_json(&f.header()), b64_json(&changed));
            token_response(&token, access)
        }),
        ("not a JWT", BAD_TOKEN, |_, _| {
            token_response("not-a-jwt", "opaque")
        }),
        (
            "no id_token in the token answer",
            BAD_TOKEN,
            |_, _| json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300}),
        ),
        ("iss of another issuer", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| c["iss"] = json!("https://evil.example"))
        }),
        ("iss with a trailing slash", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| {
                c["iss"] = json!(format!("{}/", c["iss"].as_str().unwrap()))
            })
        }),
        ("aud of another client", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| c["aud"] = json!("another-client"))
        }),
        ("aud a list without this client", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| c["aud"] = json!(["another-client", "a-third"]))
        }),
        ("azp of another client", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| {
                c["aud"] = json!([WEB_CLIENT_ID, "another-client"]);
                c["azp"] = json!("another-client");
            })
        }),
        // openidconnect refuses an ID token without sub while reading the
        // token response, before tokengate's claim checks: invalid_token.
        ("no sub", BAD_TOKEN, |f, l| {
            claims_changed(f, l, |c| {
                c.as_object_mut().unwrap().remove("sub");
            })
        }),
        ("no nonce", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| {
                c.as_object_mut().unwrap().remove("nonce");
            })
        }),
        ("another nonce", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| {
                c["nonce"] = json!(format!("{}x", c["nonce"].as_str().unwrap()))
            })
        }),
        ("expired", EXPIRED, |f, l| {
            claims_changed(f, l, |c| {
                c["iat"] = json!(now() - 1200);
                c["exp"] = json!(now() - 600);
            })
        }),
        // openidconnect refuses an ID token without exp while reading the
        // token response, before tokengate's claim checks: invalid_token.
        ("no exp", BAD_TOKEN, |f, l| {
            claims_changed(f, l, |c| {
                c.as_object_mut().unwrap().remove("exp");
            })
        }),
        ("iat far in the future", BAD_TOKEN, |f, l| {
            claims_changed(f, l, |c| {
                c["iat"] = json!(now() + 3600);
                c["exp"] = json!(now() + 7200);
            })
        }),
        ("at_hash of another access token", BAD_CLAIMS, |f, l| {
            claims_changed(f, l, |c| c["at_hash"] = json!(at_hash("another-token")))
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_tokens_are_refused() {
    let rig = Rig::start("oidc-forged").await;
    // Every case runs; the mismatches are reported together.
    let mut wrong = Vec::new();
    for (i, (what, code, forge)) in forgeries().into_iter().enumerate() {
        let login = rig.login(None).await;
        let exchange = rig.new_code();
        rig.fake.script(&exchange, forge(&rig.fake, &login));
        let resp = rig.callback(&login, &exchange).await;
        let got = serde_json::from_slice::<Value>(&resp.body).unwrap_or_default();
        if resp.status != 400 || got["code"] != code {
            wrong.push(format!(
                "{what}: expected 400 {code}, got {} {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ));
            continue;
        }
        expect_refused(resp, code, what);
        // The code was exchanged, once: the refusal came from the checks.
        assert_eq!(rig.fake.token_calls(), i + 1, "{what}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(user_count(&rig.dir), 0, "a forged ID token created a user");

    // The same rig with a good token: the refusals were the forgeries'.
    let (resp, _) = rig.log_in("mallory", None).await;
    Session::from(&resp);
    assert_eq!(user_count(&rig.dir), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_single_use_and_bound_to_the_browser() {
    let rig = Rig::start("oidc-state").await;
    let api = rig.api();
    let iss = Some(rig.fake.issuer());
    let a = rig.login(None).await;
    let b = rig.login(None).await;
    assert_ne!(a.state, b.state);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.code_challenge, b.code_challenge);
    assert_ne!(a.cookie.value, b.cookie.value);
    let code = rig.new_code();
    rig.fake.grant(&code, "victim", &a.nonce);

    let cases: [(&str, String, Option<String>); 5] = [
        (
            "no state",
            callback_query(Some(&code), None, iss),
            Some(a.cookie_header()),
        ),
        (
            "a state tokengate never issued",
            callback_query(Some(&code), Some(&"A".repeat(43)), iss),
            Some(a.cookie_header()),
        ),
        (
            "the state of another browser's login",
            callback_query(Some(&code), Some(&a.state), iss),
            Some(b.cookie_header()),
        ),
        (
            "a state without its cookie",
            callback_query(Some(&code), Some(&a.state), iss),
            None,
        ),
        (
            "a state with a tampered cookie",
            callback_query(Some(&code), Some(&a.state), iss),
            Some(format!("{}x", a.cookie_header())),
        ),
    ];
    for (what, query, cookie) in &cases {
        let resp = callback(api, FAKE, query, cookie.as_deref(), None).await;
        expect_refused(resp, STATE_ERROR, what);
        // Checked before the code is spent at the provider.
        assert_eq!(rig.fake.token_calls(), 0, "{what}: the code was exchanged");
    }
    // The binding cookie twice (one planted by a sibling subdomain): which
    // is the browser's cannot be told, so neither order is taken, not even
    // with the genuine one first.
    let planted = format!("{STATE_COOKIE}=planted");
    for (what, cookie) in [
        (
            "the genuine binding, then a planted one",
            format!("{}; {planted}", a.cookie_header()),
        ),
        (
            "a planted binding, then the genuine one",
            format!("{planted}; {}", a.cookie_header()),
        ),
    ] {
        let query = callback_query(Some(&code), Some(&a.state), iss);
        let resp = callback(api, FAKE, &query, Some(&cookie), None).await;
        expect_refused(resp, "invalid_header", what);
        assert_eq!(rig.fake.token_calls(), 0, "{what}: the code was exchanged");
    }
    assert_eq!(user_count(&rig.dir), 0);

    // A good callback, then the same one again (a replayed URL with the old
    // cookie, as an attacker who saw both would send).
    let c = rig.login(None).await;
    let code = rig.new_code();
    rig.fake.grant(&code, "carol", &c.nonce);
    let resp = rig.callback(&c, &code).await;
    assert_eq!(local_target(api, &resp), "/");
    Session::from(&resp);
    assert_eq!(rig.fake.token_calls(), 1);
    let again = rig.callback(&c, &code).await;
    expect_refused(again, STATE_ERROR, "a reused state");
    assert_eq!(
        rig.fake.token_calls(),
        1,
        "a reused state reached the provider"
    );
    assert_eq!(user_count(&rig.dir), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_code_is_refused() {
    let rig = Rig::start("oidc-code-replay").await;
    let first = rig.login(None).await;
    let code = rig.new_code();
    rig.fake.grant(&code, "dave", &first.nonce);
    Session::from(&rig.callback(&first, &code).await);

    // Another browser brings the same code with a state of its own: the
    // provider refuses the second exchange (invalid_grant).
    let second = rig.login(None).await;
    let resp = rig.callback(&second, &code).await;
    expect_refused(resp, EXCHANGE_ERROR, "a code exchanged before");
    assert_eq!(rig.fake.token_calls(), 2);
    assert_eq!(user_count(&rig.dir), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_error_is_refused_as_json_or_html() {
    let rig = Rig::start("oidc-provider-error").await;
    let api = rig.api();
    let script = "<script>alert(1)</script>";
    let query = |login: &LoginStart| {
        crate::oidc_provider::form(&[
            ("error", "access_denied"),
            ("error_description", script),
            ("state", &login.state),
            ("iss", rig.fake.issuer()),
        ])
    };

    let login = rig.login(None).await;
    let resp = callback(
        api,
        FAKE,
        &query(&login),
        Some(&login.cookie_header()),
        Some("application/json"),
    )
    .await;
    expect_refused(resp, PROVIDER_ERROR, "error=access_denied");

    // A browser gets a page, where nothing of the provider's text runs.
    let login = rig.login(None).await;
    let resp = callback(
        api,
        FAKE,
        &query(&login),
        Some(&login.cookie_header()),
        Some(HTML_ACCEPT),
    )
    .await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert_no_session(&resp);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{resp:?}");
    assert!(!resp.text().contains(script), "unescaped: {resp:?}");

    // A refused state as a page too.
    let resp = callback(
        api,
        FAKE,
        &callback_query(Some("c"), Some("forged"), Some(rig.fake.issuer())),
        None,
        Some(HTML_ACCEPT),
    )
    .await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{resp:?}"
    );

    assert_eq!(rig.fake.token_calls(), 0);
    assert_eq!(user_count(&rig.dir), 0);
}

/// RFC 9207: the authorization response names its issuer; a response for
/// provider `bad` that names `good` is a mix-up, and the code goes to no
/// token endpoint. A state is also bound to the provider it was made for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_between_two_providers_is_refused() {
    let good = FakeProvider::start().await;
    let bad = FakeProvider::start().await;
    let dir = TestDir::new("oidc-mix-up");
    let port = free_port();
    let server = start_rp(
        &dir,
        port,
        &[
            ProviderEntry {
                name: "good",
                issuer: good.issuer(),
            },
            ProviderEntry {
                name: FAKE,
                issuer: bad.issuer(),
            },
        ],
    );
    let api = server.api();
    let bad_authorize = bad.authorization_endpoint();
    let login_bad = || start_login(api, FAKE, None, &bad_authorize);

    // The callback of `bad` with `iss` of `good`.
    let login = login_bad().await;
    good.grant("code-good", "erin", &login.nonce);
    bad.grant("code-bad", "erin", &login.nonce);
    let resp = callback(
        api,
        FAKE,
        &callback_query(Some("code-good"), Some(&login.state), Some(good.issuer())),
        Some(&login.cookie_header()),
        None,
    )
    .await;
    expect_refused(resp, STATE_ERROR, "bad's callback with good's iss");

    // The state of a login at `bad`, brought to `good`'s callback.
    let login = login_bad().await;
    let resp = callback(
        api,
        "good",
        &callback_query(Some("code-good"), Some(&login.state), Some(good.issuer())),
        Some(&login.cookie_header()),
        None,
    )
    .await;
    expect_refused(resp, STATE_ERROR, "bad's state at good's callback");

    assert_eq!(
        good.token_calls(),
        0,
        "a code went to good's token endpoint"
    );
    assert_eq!(bad.token_calls(), 0, "a code went to bad's token endpoint");
    assert_eq!(user_count(&dir), 0);

    // With its own issuer, `bad`'s callback works.
    let login = login_bad().await;
    bad.grant("code-bad-2", "erin", &login.nonce);
    let resp = callback(
        api,
        FAKE,
        &callback_query(Some("code-bad-2"), Some(&login.state), Some(bad.issuer())),
        Some(&login.cookie_header()),
        None,
    )
    .await;
    assert_eq!(local_target(api, &resp), "/");
    Session::from(&resp);
    assert_eq!(good.token_calls(), 0);
    assert_eq!(user_count(&dir), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_provider_is_404() {
    let rig = Rig::start("oidc-unknown").await;
    let api = rig.api();
    for path in [
        "/auth/oidc/nope/login",
        "/auth/oidc/nope/login?next=%2F",
        "/auth/oidc/nope/callback?code=c&state=s",
        "/auth/oidc/nope/logout",
    ] {
        let resp = api
            .send(
                api.request(Method::GET, path)
                    .header("accept", "application/json"),
            )
            .await;
        assert_no_session(&resp);
        resp.expect_error(404, "not_found");
    }
    // The configured one exists.
    rig.login(None).await;
}

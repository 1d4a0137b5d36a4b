//! `next` of an OIDC login: only a local path is followed; any
//! other value sends the browser to `/` after the login, never off-site.

use crate::fake_oidc::Rig;
use crate::rp::{Session, local_target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_is_followed_only_to_a_local_path() {
    let rig = Rig::start("oidc-next").await;
    let api = rig.api();
    let own = format!("next=http%3A%2F%2F127.0.0.1%3A{}%2Fapi%2Fprivate", rig.port);
    // (raw query of the login, the path the callback must send to; None:
    // any path of tokengate's origin, as a browser resolves the Location)
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("next=%2Fapi%2Fprivate", Some("/api/private")),
        ("next=https%3A%2F%2Fevil.example", Some("/")),
        ("next=https%3A%2F%2Fevil.example%2F", Some("/")),
        // //evil.example
        ("next=%2F%2Fevil.example", Some("/")),
        ("next=//evil.example", Some("/")),
        // /\evil.example (browsers read \ as /)
        ("next=%2F%5Cevil.example", Some("/")),
        ("next=/%5Cevil.example", Some("/")),
        // \\evil.example
        ("next=%5C%5Cevil.example", Some("/")),
        // %2F%2Fevil.example, literally: not a path (and not to be decoded twice)
        ("next=%252F%252Fevil.example", Some("/")),
        ("next=javascript%3Aalert(1)", Some("/")),
        ("next=JavaScript:alert(1)", Some("/")),
        ("next=evil.example", Some("/")),
        ("next=", Some("/")),
        // An absolute URL, even of tokengate itself: no scheme is accepted.
        (own.as_str(), Some("/")),
        // Browsers drop tabs and newlines from URLs: /<TAB>/evil.example is //evil.example.
        ("next=%2F%09%2Fevil.example", None),
        ("next=%2F%0A%2Fevil.example", None),
        // No header may be injected through the Location.
        (
            "next=%2F%0D%0ALocation%3A%20https%3A%2F%2Fevil.example",
            None,
        ),
    ];
    for (query, expected) in cases {
        let (resp, _) = rig.log_in("nora", Some(query)).await;
        assert_eq!(
            resp.headers.get_all("location").iter().count(),
            1,
            "{query}: {resp:?}"
        );
        let target = local_target(api, &resp);
        if let Some(expected) = expected {
            assert_eq!(target, expected, "{query}: {resp:?}");
        }
        Session::from(&resp);
    }
}

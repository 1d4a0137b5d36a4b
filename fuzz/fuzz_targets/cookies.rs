//! Cookie parsing and the CSRF double submit: a `Cookie` header and an
//! `X-CSRF-TOKEN` header (split at the first NUL) through
//! `Transport::locate` and `check_csrf` on a POST. The check passes only
//! when the header equals the token's claim.
#![no_main]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use tokengate::claims::TokenType;
use tokengate::transport::{TokenLocation, Transport, check_csrf};

const CLAIM: &str = "4f1c6d3e-csrf";

fuzz_target!(|data: &[u8]| {
    let (cookie, csrf) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let mut request = http::Request::post("/");
    for value in cookie.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(http::header::COOKIE, value);
        }
    }
    if let Some(Ok(csrf)) = csrf.map(HeaderValue::from_bytes) {
        request = request.header("x-csrf-token", csrf);
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let transport = Transport::default().locations([TokenLocation::Cookies]);
    for token_type in [TokenType::Access, TokenType::Refresh] {
        let Ok(found) = transport.locate(&parts, token_type) else {
            continue;
        };
        assert_eq!(found.location, TokenLocation::Cookies);
        if check_csrf(&transport, &parts, &found, Some(CLAIM)).is_ok() {
            let sent = parts.headers.get("x-csrf-token").map(|v| v.as_bytes());
            assert_eq!(sent, Some(CLAIM.as_bytes()));
        }
    }
});

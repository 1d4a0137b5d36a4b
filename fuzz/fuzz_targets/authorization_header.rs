//! Authorization header parsing: any header value (or several, split at
//! NUL) through `Transport::locate`. Whatever is accepted must be one
//! non-empty token without spaces, from the header.
#![no_main]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use tokengate::claims::TokenType;
use tokengate::transport::{TokenLocation, Transport};

fuzz_target!(|data: &[u8]| {
    let mut request = http::Request::get("/");
    for value in data.split(|&b| b == 0) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(http::header::AUTHORIZATION, value);
        }
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let transport = Transport::default();
    if let Ok(found) = transport.locate(&parts, TokenType::Access) {
        assert_eq!(found.location, TokenLocation::Headers);
        assert!(!found.token.is_empty() && !found.token.contains(' '));
        assert_eq!(
            parts
                .headers
                .get_all(http::header::AUTHORIZATION)
                .iter()
                .count(),
            1
        );
    }
});

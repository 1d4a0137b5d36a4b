//! Published JWS examples (RFC 7515 Appendix A, RFC 7520 section 4,
//! RFC 8037 Appendix A) run through tokengate's keys and token engine, byte
//! for byte.

mod common;

use tokengate::keys::{Algorithm, Jwk, KeyRing, SigningKey, VerifyingKey};
use tokengate::token::{TokenEngine, Validation};

use common::jwt::b64;

/// RFC 7515 A.1 (and RFC 7519 3.1): the HS256 example. Its header and
/// payload contain `\r\n` line breaks, which the base64url text carries.
const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
                        eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
                        dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// RFC 7515 A.1.1: the symmetric key (64 bytes, over the 32-byte minimum).
const A1_JWK: &str = r#"{"kty":"oct",
 "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
}"#;

/// The payload shared by RFC 7515 A.1, A.2 and A.3.
const A_PAYLOAD: &[u8] =
    b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
const A_PAYLOAD_B64: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

/// RFC 7515 A.2.1 / RFC 7517 A.1: the RSA public key (2048 bits).
const A2_JWK: &str = r#"{"kty":"RSA",
 "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
 "e":"AQAB",
 "alg":"RS256",
 "kid":"2011-04-29"
}"#;
const A2_SIGNATURE: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

/// RFC 7515 A.3.1: the P-256 public key.
const A3_JWK: &str = r#"{"kty":"EC",
 "crv":"P-256",
 "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
 "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
}"#;
const A3_SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// RFC 7515 A.4.1: the P-521 private key; the example signs the payload
/// `Payload` with ES512.
const A4_JWK: &str = r#"{"kty":"EC",
 "crv":"P-521",
 "x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
 "y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
 "d":"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C"
}"#;
/// RFC 7515 A.4: `{"alg":"ES512"}` and `Payload`, base64url.
const A4_SIGNING_INPUT: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA";
const A4_SIGNATURE: &str = "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

/// RFC 7520 4 (Figure 7, 8): the payload of the JOSE cookbook's signatures.
const COOKBOOK_PAYLOAD_B64: &str = "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4";
const COOKBOOK_PAYLOAD: &str = "It\u{2019}s a dangerous business, Frodo, going out your door. You step onto the road, and if you don't keep your feet, there\u{2019}s no knowing where you might be swept off to.";

/// RFC 7520 3.4 (Figure 3): the RSA public key (2048 bits), no `alg`.
const COOKBOOK_RSA_JWK: &str = r#"{"kty":"RSA",
 "kid":"bilbo.baggins@hobbiton.example",
 "use":"sig",
 "n":"n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw",
 "e":"AQAB"
}"#;
/// RFC 7520 4.2: `{"alg":"PS384","kid":"bilbo.baggins@hobbiton.example"}`
/// (Figure 17) and its signature (Figure 19).
const COOKBOOK_PS384_HEADER: &str =
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
const COOKBOOK_PS384_SIGNATURE: &str = "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRXe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw";

/// RFC 7520 3.2 (Figure 2): the P-521 private key; its `d` starts with a
/// zero byte.
const COOKBOOK_P521_JWK: &str = r#"{"kty":"EC",
 "kid":"bilbo.baggins@hobbiton.example",
 "use":"sig",
 "crv":"P-521",
 "x":"AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
 "y":"AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1",
 "d":"AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt"
}"#;
/// RFC 7520 4.3: `{"alg":"ES512","kid":"bilbo.baggins@hobbiton.example"}`
/// (Figure 24) and its signature (Figure 26).
const COOKBOOK_ES512_HEADER: &str =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
const COOKBOOK_ES512_SIGNATURE: &str = "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";

/// RFC 8037 A.1: the Ed25519 private key.
const ED_PRIVATE_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519",
 "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
 "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
/// RFC 8037 A.2: the Ed25519 public key.
const ED_PUBLIC_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519",
 "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
/// RFC 8037 A.3: its thumbprint.
const ED_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
/// RFC 8037 A.4: the signing input and the signature.
const ED_SIGNING_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const ED_SIGNATURE: &str =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn jwk(text: &str) -> Jwk {
    serde_json::from_str(text).expect("the RFC's JWK parses")
}

fn verify_only(key: VerifyingKey) -> TokenEngine {
    TokenEngine::new(KeyRing::verify_only([key]))
}

/// Flips one bit of the signature segment's first character.
fn tamper(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    let mut sig = sig.to_owned().into_bytes();
    sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
    format!("{rest}.{}", String::from_utf8(sig).unwrap())
}

#[test]
fn rfc7515_a1_hs256_token_text_is_the_rfcs() {
    assert!(A1_TOKEN.contains("LA0KICJ"), "the header carries \\r\\n");
    assert_eq!(A1_TOKEN.split('.').nth(1), Some(A_PAYLOAD_B64));
}

#[test]
fn rfc7515_a1_hs256_verifies_at_the_signature_layer() {
    let key = VerifyingKey::from_jwk(&jwk(A1_JWK), Some(Algorithm::HS256)).unwrap();
    assert_eq!(key.algorithm(), Algorithm::HS256);
    let engine = verify_only(key);

    let signed = engine
        .verify_signature(A1_TOKEN)
        .expect("A.1 signature verifies");
    assert_eq!(signed.payload, A_PAYLOAD);
    assert_eq!(signed.header.alg, Algorithm::HS256);
    assert_eq!(signed.header.typ.as_deref(), Some("JWT"));
    assert_eq!(signed.header.kid, None);

    // One changed signature character, and it no longer verifies.
    let err = engine.verify_signature(&tamper(A1_TOKEN)).unwrap_err();
    assert_eq!(err.code(), "invalid_token");
}

#[test]
fn rfc7515_a1_full_verification_refuses_its_claims() {
    let key = VerifyingKey::from_jwk(&jwk(A1_JWK), Some(Algorithm::HS256)).unwrap();
    // tokengate's own-token policy: the claim set lacks sub, iat, jti and
    // type, which is checked before the (long past) expiry.
    let err = verify_only(key.clone()).verify(A1_TOKEN).unwrap_err();
    assert_eq!(err.code(), "invalid_claims", "{err}");

    // Without the own-token requirements, what remains wrong is exp
    // (1300819380, March 2011).
    let engine = verify_only(key).with_validation(Validation::external());
    let err = engine.verify(A1_TOKEN).unwrap_err();
    assert_eq!(err.code(), "token_expired", "{err}");
    // And at a time before exp, the same token is accepted as a whole.
    let verified = engine.verify_at(A1_TOKEN, 1_300_819_379).unwrap();
    assert_eq!(verified.claims.iss.as_deref(), Some("joe"));
    assert_eq!(verified.claims.exp, 1_300_819_380);
    assert_eq!(verified.payload()["http://example.com/is_root"], true);
    // exp is exclusive: at exp itself the token has expired.
    let err = engine.verify_at(A1_TOKEN, 1_300_819_380).unwrap_err();
    assert_eq!(err.code(), "token_expired");
}

#[test]
fn rfc7515_a1_key_is_bound_to_hs256() {
    // The same secret configured for HS384 does not verify an HS256 token:
    // the key ring holds no HS256 key.
    let key = VerifyingKey::from_jwk(&jwk(A1_JWK), Some(Algorithm::HS384)).unwrap();
    let err = verify_only(key).verify_signature(A1_TOKEN).unwrap_err();
    assert_eq!(err.code(), "invalid_token");
}

#[test]
fn rfc7515_a2_rs256_verifies_at_the_signature_layer() {
    let key = VerifyingKey::from_jwk(&jwk(A2_JWK), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::RS256);
    assert_eq!(key.kid().as_str(), "2011-04-29");
    let engine = verify_only(key);
    // The token has no kid: every RS256 key of the ring is a candidate.
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{A_PAYLOAD_B64}.{A2_SIGNATURE}");
    let signed = engine.verify_signature(&token).unwrap();
    assert_eq!(signed.payload, A_PAYLOAD);
    assert_eq!(signed.header.alg, Algorithm::RS256);

    assert_eq!(
        engine.verify_signature(&tamper(&token)).unwrap_err().code(),
        "invalid_token"
    );
}

#[test]
fn rfc7515_a3_es256_verifies_at_the_signature_layer() {
    let key = VerifyingKey::from_jwk(&jwk(A3_JWK), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::ES256);
    let engine = verify_only(key);
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{A_PAYLOAD_B64}.{A3_SIGNATURE}");
    let signed = engine.verify_signature(&token).unwrap();
    assert_eq!(signed.payload, A_PAYLOAD);

    assert_eq!(
        engine.verify_signature(&tamper(&token)).unwrap_err().code(),
        "invalid_token"
    );
}

#[test]
fn rfc8037_a4_ed25519_signature_is_byte_for_byte() {
    let key = SigningKey::from_jwk(&jwk(ED_PRIVATE_JWK), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EdDSA);
    // No kid in the JWK: the key id is the RFC 7638 thumbprint (RFC 8037 A.3).
    assert_eq!(key.kid().as_str(), ED_THUMBPRINT);

    let signature = key.sign(ED_SIGNING_INPUT.as_bytes()).unwrap();
    assert_eq!(b64(&signature), ED_SIGNATURE);

    // The public half is the RFC's public JWK.
    let public = key.verifying_key().to_jwk().unwrap();
    assert_eq!(public.kty, "OKP");
    assert_eq!(public.crv.as_deref(), Some("Ed25519"));
    assert_eq!(
        public.x.as_deref(),
        Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    );
    assert!(public.d.is_none());
    assert_eq!(public.thumbprint().as_deref(), Some(ED_THUMBPRINT));
}

#[test]
fn rfc8037_a4_ed25519_token_verifies_with_the_public_jwk() {
    let key = VerifyingKey::from_jwk(&jwk(ED_PUBLIC_JWK), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EdDSA);
    assert_eq!(key.kid().as_str(), ED_THUMBPRINT);
    let engine = verify_only(key);

    // The A.4 header is {"alg":"EdDSA"}: no kid, so every EdDSA key is a candidate.
    let token = format!("{ED_SIGNING_INPUT}.{ED_SIGNATURE}");
    let signed = engine.verify_signature(&token).unwrap();
    assert_eq!(signed.payload, b"Example of Ed25519 signing");
    assert_eq!(signed.header.alg, Algorithm::EdDSA);
    assert_eq!(signed.header.kid, None);

    assert_eq!(
        engine.verify_signature(&tamper(&token)).unwrap_err().code(),
        "invalid_token"
    );
    // The payload is not a claim set, so full verification refuses it.
    assert_eq!(engine.verify(&token).unwrap_err().code(), "invalid_token");
}

#[test]
fn rfc8037_a4_token_verifies_in_a_ring_built_from_the_private_key() {
    let key = SigningKey::from_jwk(&jwk(ED_PRIVATE_JWK), None).unwrap();
    let engine = TokenEngine::new(KeyRing::new(key));
    let token = format!("{ED_SIGNING_INPUT}.{ED_SIGNATURE}");
    assert!(engine.verify_signature(&token).is_ok());
    // And the published JWKS round-trips to a key that verifies it too.
    let jwks = engine.keys().jwks();
    assert_eq!(jwks.keys.len(), 1);
    let reloaded = VerifyingKey::from_jwk(&jwks.keys[0], None).unwrap();
    assert_eq!(reloaded.kid().as_str(), ED_THUMBPRINT);
    assert!(verify_only(reloaded).verify_signature(&token).is_ok());
}

#[test]
fn rfc7515_a4_es512_verifies_with_the_public_jwk() {
    let public = jwk(A4_JWK).to_public();
    let key = VerifyingKey::from_jwk(&public, None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::ES512);
    let engine = verify_only(key);
    let token = format!("{A4_SIGNING_INPUT}.{A4_SIGNATURE}");
    let signed = engine.verify_signature(&token).unwrap();
    assert_eq!(signed.payload, b"Payload");
    assert_eq!(signed.header.alg, Algorithm::ES512);
    // r||s, 66 bytes each.
    assert_eq!(common::jwt::unb64(A4_SIGNATURE).unwrap().len(), 132);

    assert_eq!(
        engine.verify_signature(&tamper(&token)).unwrap_err().code(),
        "invalid_token"
    );
    // The payload is not a claim set, so full verification refuses it.
    assert_eq!(engine.verify(&token).unwrap_err().code(), "invalid_token");
}

#[test]
fn rfc7515_a4_p521_key_is_bound_to_es512() {
    // The same JWK named for another algorithm is refused at load.
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::PS512] {
        assert!(
            VerifyingKey::from_jwk(&jwk(A4_JWK).to_public(), Some(alg)).is_err(),
            "{alg}"
        );
        assert!(
            SigningKey::from_jwk(&jwk(A4_JWK), Some(alg)).is_err(),
            "{alg}"
        );
    }
    // A token that names another algorithm finds no key of its algorithm.
    let engine = verify_only(VerifyingKey::from_jwk(&jwk(A4_JWK), None).unwrap());
    let es384 = format!("{}.UGF5bG9hZA.{A4_SIGNATURE}", b64(br#"{"alg":"ES384"}"#));
    assert_eq!(
        engine.verify_signature(&es384).unwrap_err().code(),
        "invalid_token"
    );
}

#[test]
fn rfc7515_a4_private_key_signs_what_its_public_half_verifies() {
    let key = SigningKey::from_jwk(&jwk(A4_JWK), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::ES512);
    // The public half is the RFC's, and the published JWK reloads as the same key.
    let public = key.verifying_key().to_jwk().unwrap();
    let rfc = jwk(A4_JWK);
    assert_eq!(
        (public.crv.as_deref(), &public.x, &public.y),
        (Some("P-521"), &rfc.x, &rfc.y)
    );
    assert_eq!(public.alg.as_deref(), Some("ES512"));
    assert!(public.d.is_none());
    assert_eq!(key.kid().as_str(), rfc.thumbprint().unwrap());

    // It verifies the RFC's signature, and signs anew (ECDSA is randomized).
    let engine = TokenEngine::new(KeyRing::new(key));
    assert!(
        engine
            .verify_signature(&format!("{A4_SIGNING_INPUT}.{A4_SIGNATURE}"))
            .is_ok()
    );
    let signing = engine.keys().signing_key().unwrap();
    let fresh = signing.sign(A4_SIGNING_INPUT.as_bytes()).unwrap();
    assert_eq!(fresh.len(), 132);
    assert_ne!(b64(&fresh), A4_SIGNATURE);
    let reloaded = VerifyingKey::from_jwk(&public, None).unwrap();
    assert!(reloaded.verify_signature(A4_SIGNING_INPUT.as_bytes(), &fresh));

    // The PKCS#8 PEM round-trips to the same ES512 key.
    let pem = signing.to_pkcs8_pem().unwrap();
    let from_pem = SigningKey::from_pem(&pem, None).unwrap();
    assert_eq!(
        (from_pem.algorithm(), from_pem.kid()),
        (Algorithm::ES512, signing.kid())
    );
}

#[test]
fn rfc7520_4_2_ps384_verifies_with_the_public_jwk() {
    assert_eq!(
        common::jwt::unb64(COOKBOOK_PAYLOAD_B64).unwrap(),
        COOKBOOK_PAYLOAD.as_bytes()
    );
    let rsa = jwk(COOKBOOK_RSA_JWK);
    // The cookbook's key has no alg: it serves the RSA algorithm it is given.
    assert!(VerifyingKey::from_jwk(&rsa, None).is_err());
    let key = VerifyingKey::from_jwk(&rsa, Some(Algorithm::PS384)).unwrap();
    assert_eq!(key.kid().as_str(), "bilbo.baggins@hobbiton.example");
    let engine = verify_only(key);
    let token =
        format!("{COOKBOOK_PS384_HEADER}.{COOKBOOK_PAYLOAD_B64}.{COOKBOOK_PS384_SIGNATURE}");
    let signed = engine.verify_signature(&token).unwrap();
    assert_eq!(signed.header.alg, Algorithm::PS384);
    assert_eq!(
        signed.header.kid.as_deref(),
        Some("bilbo.baggins@hobbiton.example")
    );
    assert_eq!(signed.payload, COOKBOOK_PAYLOAD.as_bytes());
    assert_eq!(
        engine.verify_signature(&tamper(&token)).unwrap_err().code(),
        "invalid_token"
    );

    // Loaded for another PSS algorithm (or PKCS#1 v1.5), the same key holds
    // no PS384 key: the token is refused.
    for alg in [Algorithm::PS256, Algorithm::PS512, Algorithm::RS384] {
        let other = verify_only(VerifyingKey::from_jwk(&rsa, Some(alg)).unwrap());
        assert_eq!(
            other.verify_signature(&token).unwrap_err().code(),
            "invalid_token",
            "{alg}"
        );
    }
}

#[test]
fn rfc7520_4_3_es512_verifies_and_its_private_key_loads() {
    let private = jwk(COOKBOOK_P521_JWK);
    let key = VerifyingKey::from_jwk(&private.to_public(), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::ES512);
    assert_eq!(key.kid().as_str(), "bilbo.baggins@hobbiton.example");
    let token =
        format!("{COOKBOOK_ES512_HEADER}.{COOKBOOK_PAYLOAD_B64}.{COOKBOOK_ES512_SIGNATURE}");
    let signed = verify_only(key).verify_signature(&token).unwrap();
    assert_eq!(signed.header.alg, Algorithm::ES512);
    assert_eq!(signed.payload, COOKBOOK_PAYLOAD.as_bytes());

    // A private scalar with a leading zero byte loads, keeps its kid, and
    // its ring verifies the cookbook's token.
    let signing = SigningKey::from_jwk(&private, None).unwrap();
    assert_eq!(
        (signing.algorithm(), signing.kid().as_str()),
        (Algorithm::ES512, "bilbo.baggins@hobbiton.example")
    );
    let engine = TokenEngine::new(KeyRing::new(signing));
    assert!(engine.verify_signature(&token).is_ok());
    assert_eq!(
        engine.verify_signature(&tamper(&token)).unwrap_err().code(),
        "invalid_token"
    );
}

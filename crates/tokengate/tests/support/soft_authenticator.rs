//! A software WebAuthn authenticator and client, for tests only: it reads
//! the JSON options a relying party sends (`{"publicKey": {...}}`) and
//! answers as a browser's `PublicKeyCredential.toJSON()` would, with an
//! ES256 key of aws-lc-rs, attestation `none`, user presence and user
//! verification. Nothing in it verifies anything: the relying party does.
//!
//! Shared by tokengate's tests (`tests/passkeys.rs`) and the service's
//! (`crates/tokengate-server/tests/service/passkeys.rs`, through `#[path]`).
//! Knobs make it misbehave on purpose: another origin, another relying
//! party, a counter set backwards, a user handle of someone else's.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

/// Flags of `authenticatorData`: user present, user verified, attested
/// credential data included.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// One credential of a software authenticator, and how it answers.
pub struct SoftAuthenticator {
    key: EcdsaKeyPair,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The origin the "browser" reports in `clientDataJSON`.
    pub origin: String,
    /// Set: the relying party id hashed into `authenticatorData`, instead
    /// of the options' `rp.id`/`rpId`.
    pub rp_id_override: Option<String>,
    /// The user handle the registration gave it (sent back in assertions).
    pub user_handle: Option<Vec<u8>>,
    /// The signature counter of the next assertion is this plus one; 0 and
    /// [`Self::counting`] false: no counter at all (as synced passkeys).
    pub counter: u32,
    /// Whether it keeps a signature counter.
    pub counting: bool,
    /// Whether it reports user verification.
    pub verifies_user: bool,
}

impl SoftAuthenticator {
    /// A new credential, answering as a browser at `origin`.
    pub fn new(origin: &str) -> SoftAuthenticator {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("an ES256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
            .expect("the key just made");
        let mut credential_id = vec![0u8; 32];
        rng.fill(&mut credential_id).expect("random bytes");
        SoftAuthenticator {
            key,
            credential_id,
            origin: origin.to_owned(),
            rp_id_override: None,
            user_handle: None,
            counter: 0,
            counting: true,
            verifies_user: true,
        }
    }

    /// The credential id in base64url (`PublicKeyCredential.id`).
    pub fn id(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.credential_id)
    }

    fn flags(&self) -> u8 {
        if self.verifies_user { UP | UV } else { UP }
    }

    fn rp_id_hash(&self, options_rp_id: &str) -> Vec<u8> {
        let rp_id = self.rp_id_override.as_deref().unwrap_or(options_rp_id);
        digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec()
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("JSON")
    }

    /// The credential public key as a COSE_Key (EC2, P-256, ES256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        let mut map = BTreeMap::new();
        map.insert(Cbor::Integer(1), Cbor::Integer(2)); // kty: EC2
        map.insert(Cbor::Integer(3), Cbor::Integer(-7)); // alg: ES256
        map.insert(Cbor::Integer(-1), Cbor::Integer(1)); // crv: P-256
        map.insert(Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec()));
        map.insert(Cbor::Integer(-3), Cbor::Bytes(point[33..].to_vec()));
        serde_cbor_2::to_vec(&Cbor::Map(map)).expect("CBOR")
    }

    /// Answers `navigator.credentials.create(options)`: the JSON of the new
    /// `PublicKeyCredential` (attestation `none`). `options` is the relying
    /// party's `{"publicKey": {...}}`.
    pub fn register(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id");
        let user_id = public_key["user"]["id"].as_str().expect("user.id");
        self.user_handle = Some(URL_SAFE_NO_PAD.decode(user_id).expect("base64url user.id"));
        let client_data = self.client_data("webauthn.create", challenge);
        let mut auth_data = self.rp_id_hash(rp_id);
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        let len = u16::try_from(self.credential_id.len()).expect("a short id");
        auth_data.extend_from_slice(&len.to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let mut attestation = BTreeMap::new();
        attestation.insert(Cbor::Text("fmt".into()), Cbor::Text("none".into()));
        attestation.insert(Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new()));
        attestation.insert(Cbor::Text("authData".into()), Cbor::Bytes(auth_data));
        let attestation = serde_cbor_2::to_vec(&Cbor::Map(attestation)).expect("CBOR");
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// Answers `navigator.credentials.get(options)`: the JSON of the
    /// assertion, signed over `authenticatorData || SHA-256(clientDataJSON)`
    /// (ECDSA, DER, as WebAuthn wants it; a JWS would want r||s).
    pub fn assert(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        let rp_id = public_key["rpId"].as_str().expect("rpId");
        if self.counting {
            self.counter += 1;
        }
        let client_data = self.client_data("webauthn.get", challenge);
        let mut auth_data = self.rp_id_hash(rp_id);
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("an ECDSA signature");
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
                "userHandle": self.user_handle.as_ref().map(|h| URL_SAFE_NO_PAD.encode(h)),
            },
            "clientExtensionResults": {},
        })
    }
}

/// `credential` with its `clientDataJSON` changed by `edit` (the signature,
/// made over the original, no longer matches).
pub fn tamper_client_data(credential: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut credential = credential.clone();
    let encoded = credential["response"]["clientDataJSON"]
        .as_str()
        .expect("clientDataJSON")
        .to_owned();
    let mut data: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url"))
            .expect("JSON client data");
    edit(&mut data);
    credential["response"]["clientDataJSON"] =
        Value::String(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).expect("JSON")));
    credential
}

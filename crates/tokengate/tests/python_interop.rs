//! Interop with the real Python libraries, both ways:
//!
//! * PyJWT verifies tokengate's tokens (ES256, EdDSA, RS256, PS256, ES384,
//!   PS384, PS512 and ES512 against the key ring's JWKS, HS256 against the
//!   shared secret), and
//!   Flask-JWT-Extended's `decode_token` reads tokengate's HS256 tokens;
//! * tokengate verifies Flask-JWT-Extended's tokens (fresh, not fresh,
//!   refresh, fresh-until-a-time, extra claims), and refuses them when its
//!   key is bound to another algorithm.
//!
//! The test makes its own virtualenv under the cargo target dir with pinned
//! versions from PyPI (`support/python_venv.rs`, which the service's
//! Authlib test shares), and reuses it on later runs. It needs `python3` with the
//! `venv` module and pip, and PyPI the first time; without them it fails, it
//! never skips.

mod common;
#[path = "support/python_venv.rs"]
mod python_venv;

use std::fs;
use std::path::Path;
use std::time::SystemTime;
use tokengate::TokenRejection;

use serde_json::{Value, json};
use tokengate::Error;
use tokengate::claims::{Fresh, TokenType};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssuedToken, NewToken, TokenEngine, random_id};

use common::jwt::unb64;
use python_venv::{RemoveDir, Venv};

/// The Python packages, pinned. Flask and Werkzeug are pinned too, since they
/// decide how Flask-JWT-Extended behaves; the rest follow from these.
const VENV: Venv = Venv {
    name: "python-interop",
    requirements: &[
        "PyJWT==2.15.1",
        "cryptography==50.0.2",
        "Flask-JWT-Extended==4.7.4",
        "Flask==3.1.3",
        "Werkzeug==3.1.9",
    ],
    check: "import jwt, cryptography, flask, flask_jwt_extended",
};

/// Runs `script` in [`VENV`] with `input` as JSON on stdin; its stdout as JSON.
fn run_python(script: &str, input: &Value) -> Value {
    VENV.run(script, input)
}

/// A private scratch directory under the target dir, removed on drop.
fn scratch_dir(label: &str) -> RemoveDir {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "python-interop-{label}-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).expect("create scratch dir");
    RemoveDir(dir)
}

/// A random shared secret of 72 ASCII bytes.
fn random_secret() -> String {
    format!("{}{}", random_id(), random_id())
}

// ---------------------------------------------------------------------------
// Direction 1: tokengate issues, PyJWT (and Flask-JWT-Extended) verify
// ---------------------------------------------------------------------------

/// Verifies each token with PyJWT: a key from the JWKS file chosen by the
/// token's `kid` (or the shared secret for HS*), `algorithms=[alg]`, and
/// `exp`, `iat`, `sub`, `jti` required. One result per token, never raising.
const PYJWT_VERIFY: &str = r#"
import json, sys
import jwt

req = json.load(sys.stdin)
jwks = None
if req.get("jwks_path"):
    with open(req["jwks_path"], encoding="utf-8") as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
results = []
for case in req["tokens"]:
    try:
        header = jwt.get_unverified_header(case["token"])
        if case["alg"].startswith("HS"):
            key = req["secret"].encode("utf-8")
        else:
            key = jwks[header["kid"]]
        claims = jwt.decode(
            case["token"],
            key=key,
            algorithms=[case["alg"]],
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
        results.append({"ok": True, "header": header, "claims": claims})
    except Exception as e:
        results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
json.dump({"pyjwt": jwt.__version__, "results": results}, sys.stdout)
"#;

/// Decodes each token with Flask-JWT-Extended's own `decode_token`, as a
/// Flask service still running during a migration would.
const FLASK_DECODE: &str = r#"
import json, sys
from flask import Flask
from flask_jwt_extended import JWTManager, decode_token

req = json.load(sys.stdin)
app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = req["secret"]
app.config["JWT_ALGORITHM"] = "HS256"
JWTManager(app)
results = []
with app.app_context():
    for token in req["tokens"]:
        try:
            results.append({"ok": True, "claims": decode_token(token)})
        except Exception as e:
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
json.dump({"results": results}, sys.stdout)
"#;

/// Checks one PyJWT result against the token tokengate issued.
fn check_pyjwt_result(
    label: &str,
    result: &Value,
    issued: &IssuedToken,
    subject: &str,
    token_type: TokenType,
    fresh: Option<bool>,
) -> Value {
    assert_eq!(
        result["ok"],
        json!(true),
        "PyJWT refused tokengate's {label} token: {}\ntoken: {}",
        result["error"],
        issued.token
    );
    let claims = &result["claims"];
    assert_eq!(claims["sub"], json!(subject), "{label}: sub");
    assert_eq!(claims["type"], json!(token_type.as_str()), "{label}: type");
    assert_eq!(claims["jti"], json!(issued.jti), "{label}: jti");
    assert_eq!(claims["iat"], json!(issued.issued_at), "{label}: iat");
    assert_eq!(claims["exp"], json!(issued.expires_at), "{label}: exp");
    match fresh {
        Some(fresh) => assert_eq!(claims["fresh"], json!(fresh), "{label}: fresh"),
        None => assert!(
            claims.get("fresh").is_none(),
            "{label}: refresh tokens carry no fresh"
        ),
    }
    claims.clone()
}

#[test]
fn pyjwt_verifies_tokengate_asymmetric_tokens_from_the_jwks() {
    let scratch = scratch_dir("jwks");
    let algs = [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES384,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES512,
    ];

    // One ring rotated through every algorithm: each token is signed by the
    // then-newest key, and the final JWKS holds them all, so PyJWT has to
    // pick the key by `kid`.
    let mut ring: Option<KeyRing> = None;
    let mut cases = Vec::new();
    for (i, alg) in algs.into_iter().enumerate() {
        let key = SigningKey::generate(alg).unwrap_or_else(|e| panic!("generate {alg}: {e}"));
        let kid = key.kid().clone();
        match ring.as_mut() {
            Some(ring) => ring.rotate(key),
            None => ring = Some(KeyRing::new(key)),
        }
        let engine = TokenEngine::new(ring.clone().expect("ring"));
        let subject = format!("user-{alg}");
        let access = engine
            .issue(
                NewToken::access(subject.clone())
                    .fresh()
                    .claim("role", json!("admin"))
                    .scope("read:messages write:messages"),
            )
            .unwrap();
        let refresh = engine.issue(NewToken::refresh(subject.clone())).unwrap();
        let not_fresh = engine
            .issue(NewToken::access(subject.clone()).claim("n", json!(i)))
            .unwrap();
        cases.push((alg, kid, subject, access, refresh, not_fresh));
    }
    let ring = ring.unwrap();
    let jwks = ring.jwks();
    assert_eq!(jwks.keys.len(), algs.len());
    let jwks_path = scratch.0.join("jwks.json");
    fs::write(&jwks_path, serde_json::to_vec_pretty(&jwks).unwrap()).unwrap();

    // Sanity: the final ring verifies every token in Rust too.
    let engine = TokenEngine::new(ring);
    for (alg, _, _, access, refresh, not_fresh) in &cases {
        for token in [access, refresh, not_fresh] {
            engine
                .verify(&token.token)
                .unwrap_or_else(|e| panic!("tokengate refused its own {alg} token: {e}"));
        }
    }

    let mut tokens: Vec<Value> = cases
        .iter()
        .flat_map(|(alg, _, _, a, r, n)| {
            [a, r, n].map(|t| json!({"alg": alg.as_str(), "token": t.token}))
        })
        .collect();
    // Then, per key, the fresh token's header and signature over the
    // not-fresh token's payload: PyJWT must refuse these.
    tokens.extend(cases.iter().map(|(alg, _, _, access, _, not_fresh)| {
        let a: Vec<&str> = access.token.split('.').collect();
        let n: Vec<&str> = not_fresh.token.split('.').collect();
        json!({"alg": alg.as_str(), "token": format!("{}.{}.{}", a[0], n[1], a[2])})
    }));
    let out = run_python(
        PYJWT_VERIFY,
        &json!({"jwks_path": jwks_path, "tokens": tokens}),
    );
    eprintln!("PyJWT {}", out["pyjwt"]);
    let results = out["results"].as_array().expect("results");
    assert_eq!(results.len(), cases.len() * 4);

    for (i, (alg, kid, subject, access, refresh, not_fresh)) in cases.iter().enumerate() {
        let [ra, rr, rn] = [&results[3 * i], &results[3 * i + 1], &results[3 * i + 2]];
        let claims = check_pyjwt_result(
            &format!("{alg} access"),
            ra,
            access,
            subject,
            TokenType::Access,
            Some(true),
        );
        assert_eq!(claims["role"], json!("admin"), "{alg}: custom claim");
        assert_eq!(
            claims["scope"],
            json!("read:messages write:messages"),
            "{alg}: scope"
        );
        assert_eq!(
            ra["header"]["alg"],
            json!(alg.as_str()),
            "{alg}: header alg"
        );
        assert_eq!(
            ra["header"]["kid"],
            json!(kid.as_str()),
            "{alg}: header kid"
        );
        assert_eq!(ra["header"]["typ"], json!("JWT"), "{alg}: header typ");
        check_pyjwt_result(
            &format!("{alg} refresh"),
            rr,
            refresh,
            subject,
            TokenType::Refresh,
            None,
        );
        let claims = check_pyjwt_result(
            &format!("{alg} not-fresh access"),
            rn,
            not_fresh,
            subject,
            TokenType::Access,
            Some(false),
        );
        assert_eq!(claims["n"], json!(i), "{alg}: custom claim");

        let tampered = &results[3 * cases.len() + i];
        assert_eq!(
            tampered["ok"],
            json!(false),
            "PyJWT accepted a tampered {alg} token"
        );
        let error = tampered["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("InvalidSignatureError"),
            "{alg}: tampered token refused for another reason: {error}"
        );
    }
}

#[test]
fn pyjwt_and_flask_jwt_extended_verify_tokengate_hs256_tokens() {
    let secret = random_secret();
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::from_secret(Algorithm::HS256, secret.as_bytes()).unwrap(),
    ));
    let access = engine
        .issue(
            NewToken::access("alice")
                .fresh()
                .claim("role", json!("admin")),
        )
        .unwrap();
    let refresh = engine.issue(NewToken::refresh("alice")).unwrap();
    let not_fresh = engine.issue(NewToken::access("bob")).unwrap();
    // A fresh-until-a-time access token, as Flask-JWT-Extended writes them.
    let until = tokengate::clock::now().as_secs() + 600;
    let mut fresh_until = NewToken::access("carol");
    fresh_until.fresh = Fresh::Until(until);
    let fresh_until = engine.issue(fresh_until).unwrap();
    let all = [&access, &refresh, &not_fresh, &fresh_until];

    let tokens: Vec<Value> = all
        .iter()
        .map(|t| json!({"alg": "HS256", "token": t.token}))
        .collect();
    let out = run_python(PYJWT_VERIFY, &json!({"secret": secret, "tokens": tokens}));
    eprintln!("PyJWT {}", out["pyjwt"]);
    let results = out["results"].as_array().expect("results");
    let claims = check_pyjwt_result(
        "HS256 access",
        &results[0],
        &access,
        "alice",
        TokenType::Access,
        Some(true),
    );
    assert_eq!(claims["role"], json!("admin"));
    check_pyjwt_result(
        "HS256 refresh",
        &results[1],
        &refresh,
        "alice",
        TokenType::Refresh,
        None,
    );
    check_pyjwt_result(
        "HS256 not-fresh access",
        &results[2],
        &not_fresh,
        "bob",
        TokenType::Access,
        Some(false),
    );
    assert_eq!(results[3]["ok"], json!(true), "{}", results[3]["error"]);
    assert_eq!(results[3]["claims"]["fresh"], json!(until));

    // The wrong secret is refused by PyJWT: the check above means something.
    let out = run_python(
        PYJWT_VERIFY,
        &json!({"secret": random_secret(), "tokens": [{"alg": "HS256", "token": access.token}]}),
    );
    assert_eq!(
        out["results"][0]["ok"],
        json!(false),
        "PyJWT accepted a wrong secret"
    );

    // Flask-JWT-Extended itself reads tokengate's tokens.
    let tokens: Vec<&str> = all.iter().map(|t| t.token.as_str()).collect();
    let out = run_python(FLASK_DECODE, &json!({"secret": secret, "tokens": tokens}));
    let results = out["results"].as_array().expect("results");
    let expected = [
        ("alice", "access", json!(true)),
        ("alice", "refresh", Value::Null),
        ("bob", "access", json!(false)),
        ("carol", "access", json!(until)),
    ];
    for ((result, issued), (sub, typ, fresh)) in results.iter().zip(all).zip(expected) {
        assert_eq!(
            result["ok"],
            json!(true),
            "Flask-JWT-Extended refused tokengate's {typ} token for {sub}: {}",
            result["error"]
        );
        let claims = &result["claims"];
        assert_eq!(claims["sub"], json!(sub));
        assert_eq!(claims["type"], json!(typ));
        assert_eq!(claims["jti"], json!(issued.jti));
        if typ == "access" {
            assert_eq!(claims["fresh"], fresh, "{sub}: fresh");
        }
    }
}

// ---------------------------------------------------------------------------
// Direction 2: Flask-JWT-Extended issues, tokengate verifies
// ---------------------------------------------------------------------------

/// Issues the tokens of a Flask app configured for HS256 with `secret`.
const FLASK_ISSUE: &str = r#"
import datetime, json, sys
import flask_jwt_extended
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token

req = json.load(sys.stdin)
app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = req["secret"]
app.config["JWT_ALGORITHM"] = "HS256"
JWTManager(app)
with app.app_context():
    out = {
        "version": flask_jwt_extended.__version__,
        "alice_fresh": create_access_token(
            identity="alice", fresh=True, additional_claims={"role": "admin"}
        ),
        "bob": create_access_token(identity="bob"),
        "alice_refresh": create_refresh_token(identity="alice"),
        "alice_fresh_15m": create_access_token(
            identity="alice", fresh=datetime.timedelta(minutes=15)
        ),
    }
json.dump(out, sys.stdout)
"#;

fn flask_tokens(secret: &str) -> Value {
    let out = run_python(FLASK_ISSUE, &json!({ "secret": secret }));
    eprintln!("Flask-JWT-Extended {}", out["version"]);
    out
}

/// The claims of a token, unverified, to show in failure messages.
fn peek(token: &str) -> String {
    let decode = |part: Option<&str>| {
        part.and_then(|p| unb64(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let mut parts = token.split('.');
    format!(
        "header {} payload {}",
        decode(parts.next()),
        decode(parts.next())
    )
}

fn verify_flask(
    engine: &TokenEngine,
    label: &str,
    token: &str,
    expected: TokenType,
) -> tokengate::token::VerifiedToken {
    engine.verify_type(token, expected).unwrap_or_else(|e| {
        panic!(
            "tokengate refused Flask-JWT-Extended's {label} token: {e:?} ({}: {e})\n{}",
            e.code(),
            peek(token)
        )
    })
}

#[test]
fn tokengate_verifies_flask_jwt_extended_tokens() {
    let secret = random_secret();
    let tokens = flask_tokens(&secret);
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::from_secret(Algorithm::HS256, secret.as_bytes()).unwrap(),
    ));
    let token = |name: &str| tokens[name].as_str().expect("token string").to_owned();

    // Flask-JWT-Extended writes no kid: tokengate picks the key by algorithm.
    let v = verify_flask(
        &engine,
        "fresh access",
        &token("alice_fresh"),
        TokenType::Access,
    );
    assert_eq!(v.header.alg, Algorithm::HS256);
    assert_eq!(v.header.kid, None);
    assert_eq!(v.subject(), "alice");
    assert_eq!(v.claims.token_type, Some(TokenType::Access));
    assert_eq!(v.claims.fresh, Fresh::Yes);
    assert!(
        v.claims
            .fresh
            .is_fresh_at(tokengate::clock::now().as_secs())
    );
    assert_eq!(v.payload()["role"], json!("admin"));
    let jti = v.claims.jti.as_deref().expect("jti");
    assert_eq!(jti.len(), 36, "Flask-JWT-Extended's jti is a UUID: {jti}");
    assert!(
        v.claims.csrf.is_some(),
        "Flask-JWT-Extended writes a csrf claim"
    );
    assert!(v.claims.nbf.is_some(), "Flask-JWT-Extended writes nbf");

    let v = verify_flask(
        &engine,
        "not-fresh access",
        &token("bob"),
        TokenType::Access,
    );
    assert_eq!(v.subject(), "bob");
    assert_eq!(v.claims.token_type, Some(TokenType::Access));
    assert_eq!(v.claims.fresh, Fresh::No);
    assert!(
        !v.claims
            .fresh
            .is_fresh_at(tokengate::clock::now().as_secs())
    );
    assert!(!v.payload().contains_key("role"));

    let v = verify_flask(
        &engine,
        "refresh",
        &token("alice_refresh"),
        TokenType::Refresh,
    );
    assert_eq!(v.subject(), "alice");
    assert_eq!(v.claims.token_type, Some(TokenType::Refresh));
    // Flask-JWT-Extended writes "fresh": false into refresh tokens too.
    assert_eq!(v.claims.fresh, Fresh::No);

    // fresh=timedelta(minutes=15): Flask-JWT-Extended writes a float timestamp.
    let v = verify_flask(
        &engine,
        "fresh-for-15-minutes access",
        &token("alice_fresh_15m"),
        TokenType::Access,
    );
    assert_eq!(v.subject(), "alice");
    let t = tokengate::clock::now().as_secs();
    match v.claims.fresh {
        Fresh::Until(until) => {
            assert!(
                (t + 14 * 60..=t + 15 * 60 + 1).contains(&until),
                "fresh until {until}, now {t}; payload fresh = {}",
                v.payload()["fresh"]
            );
            assert!(v.claims.fresh.is_fresh_at(t));
            assert!(!v.claims.fresh.is_fresh_at(until + 1));
        }
        other => panic!(
            "expected Fresh::Until, got {other:?} (payload fresh = {})",
            v.payload()["fresh"]
        ),
    }

    // The type claim is enforced both ways.
    assert_eq!(
        engine
            .verify_type(&token("alice_refresh"), TokenType::Access)
            .unwrap_err(),
        Error::Token(TokenRejection::WrongType(TokenType::Access))
    );
    assert_eq!(
        engine
            .verify_type(&token("alice_fresh"), TokenType::Refresh)
            .unwrap_err(),
        Error::Token(TokenRejection::WrongType(TokenType::Refresh))
    );

    // Another secret refuses them.
    let other = TokenEngine::new(KeyRing::new(
        SigningKey::from_secret(Algorithm::HS256, random_secret().as_bytes()).unwrap(),
    ));
    let err = other.verify(&token("alice_fresh")).unwrap_err();
    assert_eq!(err.code(), "invalid_token", "{err:?}");
}

/// An HS256 token made by hand with the ES256 key's public PEM as the HMAC
/// secret, naming that key's kid: the classic algorithm-confusion forgery.
/// PyJWT refuses to sign with a PEM as an HMAC secret, so `hmac` is used.
const FORGE_HS256_WITH_PUBLIC_KEY: &str = r#"
import base64, hashlib, hmac, json, sys, time

req = json.load(sys.stdin)
def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
now = int(time.time())
out = {}
for name, header in (
    ("with_kid", {"alg": "HS256", "typ": "JWT", "kid": req["kid"]}),
    ("without_kid", {"alg": "HS256", "typ": "JWT"}),
):
    claims = {"sub": "mallory", "iat": now, "nbf": now, "exp": now + 600,
              "jti": "forged", "type": "access", "fresh": True}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(req["public_pem"].encode(), signing_input.encode(), hashlib.sha256).digest()
    out[name] = signing_input + "." + b64(sig)
json.dump(out, sys.stdout)
"#;

#[test]
fn tokengate_with_an_es256_key_refuses_flask_hs256_tokens() {
    let secret = random_secret();
    let tokens = flask_tokens(&secret);
    let es256 = SigningKey::generate(Algorithm::ES256).unwrap();
    let kid = es256.kid().as_str().to_owned();
    let public_pem = es256.verifying_key().public_key_pem().expect("public PEM");
    let engine = TokenEngine::new(KeyRing::new(es256));

    for name in ["alice_fresh", "bob", "alice_refresh", "alice_fresh_15m"] {
        let token = tokens[name].as_str().unwrap();
        let err = engine
            .verify(token)
            .expect_err("an ES256 engine accepted an HS256 token");
        assert_eq!(err.code(), "invalid_token", "{name}: {err:?}");
        assert_eq!(
            err,
            Error::Token(TokenRejection::Invalid(
                "no key for this token's algorithm and key id"
            )),
            "{name}"
        );
    }

    // The same secret bound to HS384 refuses HS256 tokens too: the key's
    // algorithm, not the token's header, decides.
    let hs384 = TokenEngine::new(KeyRing::new(
        SigningKey::from_secret(Algorithm::HS384, secret.as_bytes()).unwrap(),
    ));
    let err = hs384
        .verify(tokens["alice_fresh"].as_str().unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "invalid_token", "{err:?}");

    // HS256 signed with the ES256 public key as the secret is refused,
    // whether or not it names the ES256 key's kid.
    let forged = run_python(
        FORGE_HS256_WITH_PUBLIC_KEY,
        &json!({"kid": kid, "public_pem": public_pem}),
    );
    for name in ["with_kid", "without_kid"] {
        let token = forged[name].as_str().unwrap();
        let err = engine
            .verify(token)
            .expect_err("algorithm confusion: the forged HS256 token was accepted");
        assert_eq!(err.code(), "invalid_token", "{name}: {err:?}");
    }
}

// ---------------------------------------------------------------------------
// DPoP (RFC 9449): PyJWT makes the proofs, tokengate checks them
// ---------------------------------------------------------------------------

/// Makes (or, given their PEMs, reloads) an EC P-256 and an Ed25519 key
/// with `cryptography`, and signs DPoP proofs with PyJWT: header
/// `{"typ":"dpop+jwt","jwk":<PyJWT's to_jwk of the public key>}`, claims
/// `{jti,htm,htu,iat[,ath]}`, `ath` hashed here with hashlib. The
/// thumbprint is RFC 7638's, computed here too: the required members,
/// sorted, no whitespace, SHA-256, base64url.
const PYJWT_DPOP: &str = r#"
import base64, hashlib, json, sys, uuid
import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

req = json.load(sys.stdin)

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

ALGORITHM = {"ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}

def make(alg, pem):
    if pem:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()

def thumbprint(jwk):
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())

keys, out = {}, {"pyjwt": jwt.__version__, "keys": {}, "proofs": {}}
for alg in ("ES256", "EdDSA"):
    key = make(alg, req.get("pems", {}).get(alg))
    keys[alg] = key
    jwk = ALGORITHM[alg].to_jwk(key.public_key(), as_dict=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    out["keys"][alg] = {"pem": pem, "jwk": jwk, "jkt": thumbprint(jwk)}

for spec in req["proofs"]:
    alg, key = spec["alg"], keys[spec["alg"]]
    claims = {"jti": str(uuid.uuid4()), "htm": spec["htm"], "htu": spec["htu"], "iat": spec["iat"]}
    if "token" in spec:
        claims["ath"] = b64(hashlib.sha256(spec["token"].encode()).digest())
    if spec.get("private_jwk"):
        jwk = ALGORITHM[alg].to_jwk(key, as_dict=True)
        assert "d" in jwk
    else:
        jwk = ALGORITHM[alg].to_jwk(key.public_key(), as_dict=True)
    headers = {"typ": "dpop+jwt", "jwk": jwk}
    out["proofs"][spec["name"]] = jwt.encode(claims, key, algorithm=alg, headers=headers)
json.dump(out, sys.stdout)
"#;

#[test]
fn tokengate_checks_dpop_proofs_made_by_pyjwt() {
    use axum::body::{Body, to_bytes};
    use http::{Method, Request, StatusCode, header};
    use tokengate::axum::{AccessToken, TokenGate};
    use tokengate::clock::{Clock, ManualClock, Timestamp};
    use tokengate::dpop::{Dpop, DpopError, Jkt, ProofTarget, access_token_hash};
    use tokengate::keys::Jwk;
    use tokengate::login::LoginDetails;
    use tower::ServiceExt;

    const NOW: i64 = 1_700_000_000;
    const LOGIN: &str = "http://api.example/auth/login";
    const PRIVATE: &str = "http://api.example/private";

    // 1. Keys, and proofs for a login (no access token).
    let proof = |name: &str, alg: &str, htu: &str| json!({"name": name, "alg": alg, "htm": "POST", "htu": htu, "iat": NOW});
    let out = run_python(
        PYJWT_DPOP,
        &json!({"proofs": [
            proof("es256", "ES256", LOGIN),
            proof("eddsa", "EdDSA", LOGIN),
            proof("es256_other_url", "ES256", "http://api.example/auth/refresh"),
            proof("eddsa_other_url", "EdDSA", "https://api.example/auth/login"),
            {"name": "es256_private", "alg": "ES256", "htm": "POST", "htu": LOGIN, "iat": NOW, "private_jwk": true},
            {"name": "eddsa_private", "alg": "EdDSA", "htm": "POST", "htu": LOGIN, "iat": NOW, "private_jwk": true},
        ]}),
    );
    eprintln!("PyJWT {}", out["pyjwt"]);
    let dpop = Dpop::default();
    let login = ProofTarget::new(&Method::POST, LOGIN);
    let proof_of = |name: &str| out["proofs"][name].as_str().expect("proof").to_owned();
    for (alg, name) in [("ES256", "es256"), ("EdDSA", "eddsa")] {
        let key = &out["keys"][alg];
        let jkt = key["jkt"].as_str().unwrap();
        // tokengate's thumbprint of Python's JWK is Python's.
        let jwk: Jwk = serde_json::from_value(key["jwk"].clone()).unwrap();
        assert_eq!(
            jwk.thumbprint().as_deref(),
            Some(jkt),
            "{alg}: {}",
            key["jwk"]
        );

        let checked = dpop
            .check_proof(&proof_of(name), &login, NOW)
            .unwrap_or_else(|e| {
                panic!(
                    "tokengate refused PyJWT's {alg} proof: {e}\n{}",
                    peek(&proof_of(name))
                )
            });
        assert_eq!(checked.jkt.as_str(), jkt, "{alg}");
        assert_eq!(checked.issued_at, NOW);
        assert_eq!(checked.jti.len(), 36, "a UUID");

        let refused = |name: String, reason: &str| {
            let err = dpop
                .check_proof(&proof_of(&name), &login, NOW)
                .expect_err(&format!("tokengate accepted PyJWT's {name}"));
            assert_eq!(
                (err.error, err.reason),
                (DpopError::InvalidProof, reason),
                "{name}"
            );
        };
        refused(
            format!("{name}_other_url"),
            "the DPoP proof is for another URL",
        );
        refused(
            format!("{name}_private"),
            "the DPoP proof's jwk must be a public key",
        );
        // Good proofs, but at the wrong time or for another method.
        let err = dpop
            .check_proof(&proof_of(name), &login, NOW + 61)
            .unwrap_err();
        assert_eq!(err.reason, "the DPoP proof is too old", "{alg}");
        let get = ProofTarget::new(&Method::GET, LOGIN);
        let err = dpop.check_proof(&proof_of(name), &get, NOW).unwrap_err();
        assert_eq!(err.reason, "the DPoP proof is for another method", "{alg}");
    }

    // 2. A gate binds logins to Python's keys; Python signs proofs for the
    //    tokens, with their ath, and the router accepts them.
    let clock = ManualClock::new(Timestamp::from_secs(NOW));
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ))
    .with_clock(Clock::from(clock));
    let gate = TokenGate::new(engine);
    let app = axum::Router::new()
        .route(
            "/private",
            axum::routing::get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .with_state(gate.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (es_token, ed_token) = rt.block_on(async {
        let bind = |alg: &str| {
            LoginDetails::default().bound_to(Jkt::from(out["keys"][alg]["jkt"].as_str().unwrap()))
        };
        let es = gate
            .login_with("py-es", bind("ES256"))
            .await
            .unwrap()
            .access
            .token;
        let ed = gate
            .login_with("py-ed", bind("EdDSA"))
            .await
            .unwrap()
            .access
            .token;
        (es, ed)
    });
    let get = |name: &str, alg: &str, token: &str| json!({"name": name, "alg": alg, "htm": "GET", "htu": PRIVATE, "iat": NOW, "token": token});
    let pems = json!({
        "ES256": out["keys"]["ES256"]["pem"],
        "EdDSA": out["keys"]["EdDSA"]["pem"],
    });
    let out2 = run_python(
        PYJWT_DPOP,
        &json!({"pems": pems, "proofs": [
            get("es256", "ES256", &es_token),
            get("eddsa", "EdDSA", &ed_token),
            get("es256_for_ed_token", "ES256", &ed_token),
            get("eddsa_with_es_ath", "EdDSA", &es_token),
        ]}),
    );
    // The same keys came back.
    for alg in ["ES256", "EdDSA"] {
        assert_eq!(out2["keys"][alg]["jkt"], out["keys"][alg]["jkt"], "{alg}");
    }
    let call = |token: &str, name: &str| {
        let proof = out2["proofs"][name].as_str().unwrap().to_owned();
        let request = Request::get("/private")
            .header(header::HOST, "api.example")
            .header(header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof)
            .body(Body::empty())
            .unwrap();
        rt.block_on(async {
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
            let body: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
            (status, body, challenge)
        })
    };
    assert_eq!(
        call(&es_token, "es256"),
        (StatusCode::OK, json!("py-es"), None)
    );
    assert_eq!(
        call(&ed_token, "eddsa"),
        (StatusCode::OK, json!("py-ed"), None)
    );
    // Replayed: refused.
    let (status, body, _) = call(&es_token, "es256");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof"))
    );
    // Python's ES256 key for the token bound to its Ed25519 key.
    let (status, body, challenge) = call(&ed_token, "es256_for_ed_token");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "invalid_dpop_proof");
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"DPoP algs="ES256 ES384 ES512 EdDSA PS256 PS384 PS512 RS256", error="invalid_dpop_proof""#
        )
    );
    // The right key, the other token's ath.
    let (status, body, _) = call(&ed_token, "eddsa_with_es_ath");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof"))
    );
    // Python's ath is tokengate's.
    let claims = |name: &str| {
        let proof = out2["proofs"][name].as_str().unwrap();
        serde_json::from_slice::<Value>(&unb64(proof.split('.').nth(1).unwrap()).unwrap()).unwrap()
    };
    assert_eq!(claims("es256")["ath"], json!(access_token_hash(&es_token)));
    assert_eq!(claims("eddsa")["ath"], json!(access_token_hash(&ed_token)));
}

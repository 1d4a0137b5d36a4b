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
//! versions from PyPI, and reuses it on later runs. It needs `python3` with the
//! `venv` module and pip, and PyPI the first time; without them it fails, it
//! never skips.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};
use tokengate::TokenRejection;

use serde_json::{Value, json};
use tokengate::Error;
use tokengate::claims::{Fresh, TokenType};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssuedToken, NewToken, TokenEngine, random_id};

use common::jwt::unb64;

/// The Python packages, pinned. Flask and Werkzeug are pinned too, since they
/// decide how Flask-JWT-Extended behaves; the rest follow from these.
const REQUIREMENTS: &[&str] = &[
    "PyJWT==2.15.1",
    "cryptography==50.0.2",
    "Flask-JWT-Extended==4.7.4",
    "Flask==3.1.3",
    "Werkzeug==3.1.9",
];

/// Written last into a venv whose install succeeded.
const MARKER: &str = "tokengate-interop-ready";

/// How long a process waits for another one building the venv.
const BUILD_WAIT: Duration = Duration::from_secs(15 * 60);

#[cfg(windows)]
const VENV_PYTHON: &str = "Scripts/python.exe";
#[cfg(not(windows))]
const VENV_PYTHON: &str = "bin/python";

// ---------------------------------------------------------------------------
// The virtualenv
// ---------------------------------------------------------------------------

/// FNV-1a, to name the venv after its requirements.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A command with no Python settings leaking in from the environment.
fn python_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for var in ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"] {
        cmd.env_remove(var);
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1");
    cmd
}

/// Whether `venv` is complete: the marker is there and the packages import.
fn venv_works(venv: &Path) -> bool {
    venv.join(MARKER).is_file()
        && python_command(venv.join(VENV_PYTHON))
            .args([
                "-I",
                "-c",
                "import jwt, cryptography, flask, flask_jwt_extended",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Creates the venv in a private directory, installs, then renames it into
/// place, so a venv at the final path is always complete. Losing the rename
/// to another process is fine: its venv is used.
fn build_venv(venv: &Path) {
    let base = venv.parent().expect("venv has a parent");
    let tmp = base.join(format!(
        "{}.tmp-{}",
        venv.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    // Removes a half-built venv if anything below panics; after the rename
    // there is nothing left to remove.
    let _cleanup = RemoveDir(tmp.clone());

    let version = python_command("python3").arg("--version").output();
    match &version {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`python3 --version` failed; the Python interop test needs Python 3 with venv and pip:\n{}",
            describe(out)
        ),
        Err(e) => panic!(
            "python3 not found ({e}); the Python interop test needs Python 3 with venv and pip \
             (e.g. `apt-get install python3 python3-venv python3-pip`)"
        ),
    }

    let out = python_command("python3")
        .args(["-m", "venv"])
        .arg(&tmp)
        .output()
        .expect("run python3 -m venv");
    assert!(
        out.status.success(),
        "`python3 -m venv` failed (is the venv/ensurepip module installed? \
         on Debian: apt-get install python3-venv):\n{}",
        describe(&out)
    );

    let out = python_command(tmp.join(VENV_PYTHON))
        .args(["-m", "pip", "install", "--timeout", "60", "--retries", "3"])
        .args(REQUIREMENTS)
        .output()
        .expect("run pip install");
    assert!(
        out.status.success(),
        "pip install {} failed (is PyPI reachable?):\n{}",
        REQUIREMENTS.join(" "),
        describe(&out)
    );

    let freeze = python_command(tmp.join(VENV_PYTHON))
        .args(["-m", "pip", "freeze"])
        .output()
        .expect("run pip freeze");
    fs::write(tmp.join(MARKER), &freeze.stdout).expect("write the venv marker");
    assert!(
        venv_works(&tmp),
        "the fresh venv at {} does not import the packages",
        tmp.display()
    );

    if let Err(e) = fs::rename(&tmp, venv) {
        assert!(
            venv_works(venv),
            "could not move the venv into place at {}: {e}",
            venv.display()
        );
    }
}

/// A lock file held while one process builds the venv; removed on drop,
/// including when the build panics.
struct BuildLock(PathBuf);

impl BuildLock {
    fn try_acquire(path: &Path) -> Option<BuildLock> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .ok()?;
        let _ = write!(file, "{}", std::process::id());
        Some(BuildLock(path.to_owned()))
    }

    /// A lock left by a process that died without unwinding.
    fn is_stale(path: &Path) -> bool {
        let Ok(meta) = fs::metadata(path) else {
            return false;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > Duration::from_secs(10 * 60));
        let holder_gone = Path::new("/proc/self").exists()
            && fs::read_to_string(path)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
        old || holder_gone
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The venv's python, building the venv first if no working one exists.
fn venv_python() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(base).expect("create CARGO_TARGET_TMPDIR");
    let name = format!("python-interop-{:016x}", fnv1a(&REQUIREMENTS.join(" ")));
    let venv = base.join(&name);
    let lock_path = base.join(format!("{name}.lock"));
    let deadline = Instant::now() + BUILD_WAIT;
    loop {
        if venv_works(&venv) {
            return venv.join(VENV_PYTHON);
        }
        if let Some(_lock) = BuildLock::try_acquire(&lock_path) {
            if !venv_works(&venv) {
                // A venv at the final path that does not work is broken: replace it.
                let _ = fs::remove_dir_all(&venv);
                build_venv(&venv);
            }
            assert!(
                venv_works(&venv),
                "the venv at {} does not work",
                venv.display()
            );
            return venv.join(VENV_PYTHON);
        }
        if BuildLock::is_stale(&lock_path) {
            let _ = fs::remove_file(&lock_path);
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for another process to build the venv (lock {})",
            lock_path.display()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `script` with the venv's python, `input` as JSON on stdin, and
/// returns its stdout as JSON. Fails on any error, showing Python's output.
fn run_python(script: &str, input: &Value) -> Value {
    let python = venv_python();
    let mut child = python_command(&python)
        .args(["-I", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .expect("write the script's input");
    let out = child.wait_with_output().expect("wait for python");
    assert!(
        out.status.success(),
        "the Python script failed:\n{}",
        describe(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the Python script printed no JSON ({e}):\n{}",
            describe(&out)
        )
    })
}

/// A directory removed (if it still exists) on drop.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
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

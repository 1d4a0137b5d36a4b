//! The demo page at `/`: its security headers over plain HTTP,
//! and the whole page in a real browser: `testing/browser/demo.mjs` drives
//! Debian's chromium (headless, through playwright-core) against the
//! service (memos, gallery, silent refresh, logout, and the Sessions panel
//! ending another browser's login) and writes a screenshot of the memo page
//! to `{CARGO_TARGET_TMPDIR}/browser-demo/memos.png`;
//! `testing/browser/passkeys.mjs` adds, uses and removes passkeys with the
//! browser's virtual authenticators (DevTools protocol).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Server, TestDir, free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser run, generous for a debug build on a busy machine.
const DEMO_TIMEOUT: Duration = Duration::from_secs(300);

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testing/browser")
}

#[tokio::test]
async fn the_page_and_its_assets_have_the_security_headers() {
    let dir = TestDir::new("page-headers");
    let server = Server::start(&dir, &[]);
    let api = server.api();

    for (path, content_type) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let resp = api.get(path).await.expect(200);
        let header = |name: &str| {
            resp.header(name)
                .unwrap_or_else(|| panic!("no {name}: {resp:?}"))
        };
        assert!(header("content-type").starts_with(content_type), "{resp:?}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(
                csp.split(';').any(|d| d.trim() == directive),
                "{directive} in {csp}"
            );
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("cache-control"), "no-cache");
    }

    // Nothing inline that the CSP would block: scripts and styles are files.
    let html = api.get("/").await.text();
    let lower = html.to_ascii_lowercase();
    assert!(
        lower.contains(r#"<script type="module" src="/assets/app.js">"#),
        "{html}"
    );
    assert_eq!(
        lower.matches("<script").count(),
        1,
        "one script, by src: {html}"
    );
    assert!(!lower.contains("<style"), "{html}");
    assert!(!lower.contains(" style="), "{html}");
    let handler = lower.match_indices(" on").find(|(at, _)| {
        let rest = &lower[at + 3..];
        let name_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(0);
        name_len > 0 && rest[name_len..].trim_start().starts_with('=')
    });
    assert!(handler.is_none(), "no inline event handler: {html}");
    let js = api.get("/assets/app.js").await.text();
    assert!(!js.contains("innerHTML"), "user data only as text");

    // Other paths still get the JSON 404.
    api.get("/assets/nope.js")
        .await
        .expect_error(404, "not_found");
}

/// chromium and the node modules, or a loud failure saying how to get them.
fn require_browser() -> PathBuf {
    let browser = browser_dir();
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/install-chromium.sh (scripts/test.sh does)"
    );
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules: run `npm ci --prefix testing/browser` (scripts/test.sh does)",
        browser.display()
    );
    browser
}

/// Runs `node SCRIPT BASE_URL ARTIFACTS` in `testing/browser` against
/// `server`; panics with its output (and where its failure screenshot is)
/// unless it succeeds. `artifacts` is emptied of an earlier run's failure.
fn run_script(script: &str, server: &Server, artifacts: &Path) -> String {
    let browser = require_browser();
    let _ = std::fs::remove_file(artifacts.join("failure.png"));
    std::fs::create_dir_all(artifacts).expect("create the artifact directory");
    let log_path = artifacts.join(script.replace(".mjs", ".log"));
    let log = std::fs::File::create(&log_path).expect("create the script's log");

    let mut child = Command::new("node")
        .arg(script)
        .arg(server.api().base())
        .arg(artifacts)
        .current_dir(&browser)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the script's log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (Node.js 20+ is required): {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > DEMO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(status) if status.success() => output,
        Some(status) => panic!(
            "{script} failed ({status}); its output:\n{output}\n(screenshot of the failure in {})",
            artifacts.display()
        ),
        None => panic!("{script} did not finish within {DEMO_TIMEOUT:?}; its output:\n{output}"),
    }
}

#[test]
fn the_demo_page_in_a_real_browser() {
    require_browser();
    let dir = TestDir::new("browser-demo");
    // Access tokens of 5 s: the page must refresh them silently while the
    // test runs (it waits for an expiry on purpose).
    let server = Server::start(&dir, &[("TOKENGATE_ACCESS_TOKEN_TTL", "5")]);
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-demo");
    let screenshot = artifacts.join("memos.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = run_script("demo.mjs", &server, &artifacts);
    println!("{output}");
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

/// Passkeys in the page, with the default relying party: `localhost`, and
/// the origin `http://localhost:{port of listen}` (hence a port given, not
/// 0); the script opens the page there. The default access token lifetime:
/// a fresh login stays fresh for the run (the script makes a refreshed, not
/// fresh, one on purpose).
#[test]
fn passkeys_in_a_real_browser() {
    require_browser();
    let dir = TestDir::new("browser-passkeys");
    let listen = format!("127.0.0.1:{}", free_port());
    let server = Server::start_on(&dir, &listen, &[]);
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-passkeys");
    let output = run_script("passkeys.mjs", &server, &artifacts);
    println!("{output}");
    assert!(output.contains("[demo] all checks passed"), "{output}");
}

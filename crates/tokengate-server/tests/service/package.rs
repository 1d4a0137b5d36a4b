//! The Debian package: `scripts/package.sh` builds it (cargo-deb, the
//! release binary), its contents and control files are checked, it is
//! unpacked into a temporary root with `dpkg-deb -x`, and the packaged
//! binary runs with the packaged config (its data directory redirected)
//! until a user logs in. `systemd-analyze` checks the packaged unit.
//!
//! One test: each test is a process of its own, and two builds of one
//! package would race. It needs dpkg-deb and systemd-analyze (Debian's
//! dpkg and systemd) and fails without them; the release build it starts
//! is quick when `scripts/test.sh` built the package first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Server, TestDir, cli_with_env};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cmd` to success and returns its stdout.
#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `dpkg-deb --contents`: each path (without the leading `.`) and its mode
/// string, directories left out.
fn contents(deb: &Path) -> BTreeMap<String, String> {
    run(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .lines()
        .filter(|line| !line.starts_with('d'))
        .map(|line| {
            let mode = line.split_whitespace().next().expect("a mode").to_owned();
            let path = line.rsplit(' ').next().expect("a path");
            (path.trim_start_matches('.').to_owned(), mode)
        })
        .collect()
}

#[tokio::test]
async fn the_package_installs_a_service_that_logs_users_in() {
    // Built: its path is the script's last line of output.
    let built = run(Command::new(repo().join("scripts/package.sh")).current_dir(repo()));
    let deb = PathBuf::from(built.lines().last().expect("the package's path").trim());
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("tokengate_"),
        "{deb:?}"
    );

    // Its control fields and scripts.
    let field = |name: &str| run(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "tokengate");
    assert_eq!(field("Section").trim(), "net");
    let depends = field("Depends");
    assert!(depends.contains("adduser"), "{depends}");
    assert!(
        depends.contains("libc6"),
        "shared libraries found: {depends}"
    );
    let dir = TestDir::sqlite("package");
    let control = dir.join("control");
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert!(
        conffiles
            .lines()
            .any(|l| l == "/etc/tokengate/tokengate.toml"),
        "the config survives upgrades as a conffile: {conffiles}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("a postinst");
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(
        postinst.contains("deb-systemd-helper") && postinst.contains("tokengate.service"),
        "the unit is enabled on install: {postinst}"
    );
    assert!(!postinst.contains("#DEBHELPER#"), "{postinst}");
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        if path.exists() {
            run(Command::new("sh").arg("-n").arg(&path));
        }
    }

    // Its files.
    let files = contents(&deb);
    let unit = "/usr/lib/systemd/system/tokengate.service";
    for (path, mode) in [
        ("/usr/bin/tokengate", "-rwxr-xr-x"),
        ("/etc/tokengate/tokengate.toml", "-rw-r--r--"),
        (unit, "-rw-r--r--"),
        ("/usr/share/man/man1/tokengate.1.gz", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/tokengate",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_tokengate", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/tokengate.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/tokengate/copyright", "-rw-r--r--"),
        ("/usr/share/doc/tokengate/README.md", "-rw-r--r--"),
        ("/usr/share/doc/tokengate/reference.md", "-rw-r--r--"),
        ("/usr/share/doc/tokengate/forward-auth.md", "-rw-r--r--"),
        (
            "/usr/share/doc/tokengate/examples/nginx/tokengate.conf",
            "-rw-r--r--",
        ),
        (
            "/usr/share/doc/tokengate/examples/caddy/Caddyfile",
            "-rw-r--r--",
        ),
    ] {
        assert_eq!(
            files.get(path).map(String::as_str),
            Some(mode),
            "{path} in the package: {files:#?}"
        );
    }

    // Unpacked into a root of its own.
    let root = dir.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let binary = root.join("usr/bin/tokengate");
    let config = root.join("etc/tokengate/tokengate.toml");
    let config = config.to_str().expect("a UTF-8 path");

    let man = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man1/tokengate.1.gz")));
    assert!(man.contains(".TH tokengate 1"), "{man}");
    for command in ["serve", "user", "keys", "config", "completions"] {
        assert!(man.contains(command), "man page lacks {command}");
    }
    run(Command::new("bash")
        .arg("-n")
        .arg(root.join("usr/share/bash-completion/completions/tokengate")));
    let zsh = std::fs::read_to_string(root.join("usr/share/zsh/vendor-completions/_tokengate"))
        .expect("zsh completions");
    assert!(zsh.starts_with("#compdef tokengate"), "{zsh}");

    // The unit: valid, and hardened (systemd's own exposure score).
    let unit_file = root.join(unit.trim_start_matches('/'));
    let unit_text = std::fs::read_to_string(&unit_file).expect("the unit");
    for line in [
        "ExecStart=/usr/bin/tokengate serve --config /etc/tokengate/tokengate.toml",
        "User=tokengate",
        "StateDirectory=tokengate",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(
            unit_text.lines().any(|l| l == line),
            "{line} in {unit_text}"
        );
    }
    // Checked as a copy that runs the unpacked binary (verify wants an
    // executable at ExecStart; the rest of the unit is as packaged).
    // `--root` would look for the system's own units in the unpacked root.
    let checked = dir.join("tokengate.service");
    std::fs::write(
        &checked,
        unit_text.replace("/usr/bin/tokengate", binary.to_str().expect("a UTF-8 path")),
    )
    .expect("write the unit's copy");
    run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&checked));
    // Exposure at most 2.0 ("OK"): --threshold is in tenths.
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&checked));
    assert!(security.contains("Overall exposure level"), "{security}");

    // The packaged binary with the packaged config: examples off,
    // registration closed, the admin command makes the user, who logs in.
    let dir = dir.with_binary(binary);
    let env = [("TOKENGATE_CONFIG", config)];
    let check = cli_with_env(&dir, &["config", "check"], "", &env).expect_success();
    assert!(
        check
            .stdout
            .lines()
            .any(|l| l.starts_with("examples") && l.contains("false") && l.contains(config)),
        "{}",
        check.stdout
    );
    let server = Server::start(&dir, &env);
    let api = server.api();
    api.get("/readyz").await.expect(200);
    api.get("/api/public").await.expect(404);
    api.register("alice", "a long password")
        .await
        .expect_error(403, "registration_closed");
    cli_with_env(&dir, &["user", "add", "alice"], "a long password", &env).expect_success();
    let pair = api.login_ok("alice", "a long password").await;
    let me = api
        .get_bearer("/auth/me", &pair.access)
        .await
        .expect(200)
        .json();
    assert_eq!(me["username"], "alice", "{me}");
    let log = server.log();
    assert!(log.contains("tokengate listening"), "{log}");
}

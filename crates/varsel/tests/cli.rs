//! The command line as a newcomer meets it: clear refusals instead of silent surprises,
//! a version that names the commit, and a backup that is a working database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn varsel(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_varsel"))
        .args(args)
        .current_dir(dir)
        .env_remove("VARSEL_DATABASE_URL")
        .env_remove("VARSEL_CONFIG")
        .env_remove("VARSEL_API_KEY")
        .env_remove("VARSEL_URL")
        .output()
        .expect("run varsel")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let o = varsel(dir.path(), &["--version"]);
    assert!(o.status.success());
    let v = String::from_utf8_lossy(&o.stdout);
    let inside = v
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(c, _)| c)
        .unwrap_or_else(|| panic!("no commit in {v}"));
    assert!(
        inside == "unknown commit"
            || (inside.len() == 12 && inside.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
}

#[test]
fn key_refuses_a_folder_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let o = varsel(dir.path(), &["key"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("no database at varsel.db"), "{e}");
    assert!(e.contains("--database-url"), "{e}");
    assert!(!dir.path().join("varsel.db").exists(), "no new database");
}

#[test]
fn send_without_a_type_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let o = varsel(
        dir.path(),
        &[
            "send",
            "--api-key",
            "k",
            "--account",
            "demo",
            "--to",
            "kari",
        ],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("the event needs a type: pass --type"), "{e}");
}

#[test]
fn an_unknown_setting_suggests_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.toml"), "listn = \"127.0.0.1:9\"\n").unwrap();
    let o = varsel(dir.path(), &["migrate", "--config", "v.toml"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("did you mean `listen`?"), "{e}");
    assert!(!e.contains("default.") && !e.contains("apns_url"), "{e}");
}

#[test]
fn unreachable_postgres_names_the_host_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let o = varsel(
        dir.path(),
        &[
            "migrate",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/x",
        ],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("cannot reach PostgreSQL at 127.0.0.1:1"), "{e}");
    assert!(e.to_lowercase().contains("refused"), "{e}");
    assert!(!e.contains("pool timed out"), "{e}");
}

#[test]
fn backup_writes_a_consistent_copy_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let db = "sqlite://live.db";
    assert!(
        varsel(dir.path(), &["migrate", "--database-url", db])
            .status
            .success()
    );
    let key = varsel(dir.path(), &["key", "--database-url", db]);
    assert!(key.status.success(), "{}", stderr(&key));
    let o = varsel(dir.path(), &["backup", "copy.db", "--database-url", db]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The copy is a database Varsel opens as it is (no migration needed, a key stored).
    let copy = varsel(dir.path(), &["key", "--database-url", "sqlite://copy.db"]);
    assert!(copy.status.success(), "{}", stderr(&copy));
    let again = varsel(dir.path(), &["backup", "copy.db", "--database-url", db]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let none = varsel(
        dir.path(),
        &["backup", "x.db", "--database-url", "sqlite://nothing.db"],
    );
    assert!(
        stderr(&none).contains("no database at nothing.db"),
        "{}",
        stderr(&none)
    );
}

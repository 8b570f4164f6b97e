//! Names the commit in `varsel --version`: the checkout's HEAD (12 hex digits),
//! `VARSEL_COMMIT` when set (a build from a source archive), else "unknown commit".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=VARSEL_COMMIT");
    let commit = std::env::var("VARSEL_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
            // Rebuild when HEAD moves (a commit, a checkout).
            if let Some(p) = git(&["rev-parse", "--git-path", "HEAD"]) {
                println!("cargo:rerun-if-changed={p}");
            }
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
                && let Some(p) = git(&["rev-parse", "--git-path", &r])
            {
                println!("cargo:rerun-if-changed={p}");
            }
            Some(hash)
        })
        .unwrap_or_else(|| "unknown commit".into());
    println!("cargo:rustc-env=VARSEL_COMMIT={commit}");
}

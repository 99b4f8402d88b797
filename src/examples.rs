//! The example configuration, campaign definitions and templates, built into the binary so
//! `herald init` and `herald demo` work from any folder. They are the files in the
//! repository's `herald.toml`, `jobs/` and `templates/`.

use std::path::Path;

/// (relative path, contents) of every example file.
pub const FILES: &[(&str, &str)] = &[
    ("herald.toml", include_str!("../herald.toml")),
    (
        "jobs/collections_reminder.toml",
        include_str!("../jobs/collections_reminder.toml"),
    ),
    (
        "jobs/nps_after_repair.toml",
        include_str!("../jobs/nps_after_repair.toml"),
    ),
    (
        "jobs/winter_promotion.toml",
        include_str!("../jobs/winter_promotion.toml"),
    ),
    (
        "jobs/detractor_callback.toml",
        include_str!("../jobs/detractor_callback.toml"),
    ),
    (
        "templates/sms/payment_reminder.en.txt",
        include_str!("../templates/sms/payment_reminder.en.txt"),
    ),
    (
        "templates/sms/payment_reminder.es.txt",
        include_str!("../templates/sms/payment_reminder.es.txt"),
    ),
    (
        "templates/sms/payment_reminder_friendly.en.txt",
        include_str!("../templates/sms/payment_reminder_friendly.en.txt"),
    ),
    (
        "templates/sms/payment_reminder_friendly.es.txt",
        include_str!("../templates/sms/payment_reminder_friendly.es.txt"),
    ),
    (
        "templates/sms/nps_survey.en.txt",
        include_str!("../templates/sms/nps_survey.en.txt"),
    ),
    (
        "templates/sms/nps_survey.es.txt",
        include_str!("../templates/sms/nps_survey.es.txt"),
    ),
    (
        "templates/sms/winter_followup.en.txt",
        include_str!("../templates/sms/winter_followup.en.txt"),
    ),
    (
        "templates/email/nps_reminder.en.txt",
        include_str!("../templates/email/nps_reminder.en.txt"),
    ),
    (
        "templates/email/nps_reminder.en.html",
        include_str!("../templates/email/nps_reminder.en.html"),
    ),
    (
        "templates/email/nps_reminder.es.txt",
        include_str!("../templates/email/nps_reminder.es.txt"),
    ),
    (
        "templates/email/nps_reminder.es.html",
        include_str!("../templates/email/nps_reminder.es.html"),
    ),
    (
        "templates/email/winter_offer.en.txt",
        include_str!("../templates/email/winter_offer.en.txt"),
    ),
    (
        "templates/email/winter_offer.en.html",
        include_str!("../templates/email/winter_offer.en.html"),
    ),
];

/// Writes every example file under `dir`; refuses to overwrite an existing file unless
/// `force`. Returns the paths written.
pub fn write_all(dir: &Path, force: bool) -> std::io::Result<Vec<String>> {
    if !force && let Some((existing, _)) = FILES.iter().find(|(p, _)| dir.join(p).exists()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists (use --force to overwrite the examples)",
                dir.join(existing).display()
            ),
        ));
    }
    let mut written = Vec::new();
    for (path, text) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
        written.push(target.display().to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_repository_example_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for dir in ["jobs", "templates"] {
            for entry in walk(&root.join(dir)) {
                on_disk.push(
                    entry
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = super::FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p != "herald.toml")
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "add new example files to src/examples.rs"
        );
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
        out
    }
}

//! The backup set's encryption policy. A set is encrypted or not from its first run on; an
//! encrypted set has a passphrase, recipients (OpenPGP certificates), or both, and every later
//! run must bring the same: the same passphrase, and the same recipients unless
//! `--change-recipients` says otherwise (then the new ones apply from that run on).
//!
//! Meta keys (docs/format.md, section 5): `encrypted` (`1` or `0`); `passphrase_check` (a
//! short text encrypted with the passphrase alone, to recognise it later); `passphrase` (`0`
//! for a set without one; absent in sets from before recipients, which always have one);
//! `recipients` (the recipients' primary fingerprints, comma-separated, sorted); and
//! `recipients_history` (one line per change: time in ns and the fingerprints from then on).

use crate::catalogue::Catalogue;
use crate::crypt::{decrypt_bytes, encrypt_bytes, Passphrase};
use crate::error::{Error, Result};
use crate::fsutil::{hex, unhex};
use crate::keys::Keys;

/// Text encrypted into the meta key `passphrase_check` to recognise the passphrase later.
const CHECK_TEXT: &[u8] = b"butcher passphrase check";

/// How the set is encrypted, as its catalogue records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetKeys {
    /// Whether the set is encrypted at all.
    pub encrypted: bool,
    /// Whether it has a passphrase.
    pub passphrase: bool,
    /// The recipients' primary fingerprints now.
    pub recipients: Vec<String>,
    /// Every fingerprint the set was ever encrypted to (now and before changes).
    pub ever: Vec<String>,
}

/// How the set `cat` is encrypted; `None` before its first run recorded it.
pub fn set_keys(cat: &Catalogue) -> Result<Option<SetKeys>> {
    let Some(encrypted) = cat.meta("encrypted")? else {
        return Ok(None);
    };
    let encrypted = encrypted == "1";
    let recipients = split_fprs(&cat.meta("recipients")?.unwrap_or_default());
    let mut ever = recipients.clone();
    for line in cat.meta("recipients_history")?.unwrap_or_default().lines() {
        ever.extend(split_fprs(line.split_once(' ').map_or("", |(_, f)| f)));
    }
    ever.sort();
    ever.dedup();
    Ok(Some(SetKeys {
        encrypted,
        passphrase: encrypted && cat.meta("passphrase")?.as_deref() != Some("0"),
        recipients,
        ever,
    }))
}

fn split_fprs(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// Records the set's encryption on its first run; on later runs, refuses a run whose keys
/// are not the set's. With `change_recipients`, a run's recipients replace the set's.
pub(crate) fn check_keys(
    cat: &Catalogue,
    keys: Option<&Keys>,
    change_recipients: bool,
) -> Result<()> {
    let Some(set) = set_keys(cat)? else {
        return record(cat, keys);
    };
    let keys = match (set.encrypted, keys) {
        (true, None) => {
            return Err(Error::Usage(format!(
                "this backup set is encrypted: give {}",
                expected(&set)
            )))
        }
        (false, Some(_)) => {
            return Err(Error::Usage(
                "this backup set is not encrypted: use --no-encryption".to_string(),
            ))
        }
        (false, None) => return Ok(()),
        (true, Some(k)) => k,
    };
    match (set.passphrase, keys.passphrase()) {
        (true, None) => {
            return Err(Error::Usage(
                "this backup set has a passphrase: give it as well (BUTCHER_PASSPHRASE, \
                 --passphrase-file, or on a terminal), so that it opens what this run writes"
                    .to_string(),
            ))
        }
        (false, Some(_)) => {
            return Err(Error::Usage(
                "this backup set has no passphrase, only recipients: leave the passphrase out"
                    .to_string(),
            ))
        }
        (true, Some(p)) => check_recorded(cat, p)?,
        (false, None) => {}
    }
    let given = keys.recipient_fingerprints();
    if given == set.recipients {
        return Ok(());
    }
    if !change_recipients {
        return Err(Error::Usage(format!(
            "the recipients given ({}) are not this backup set's ({}): give the set's \
             recipients, or --change-recipients to encrypt to the ones given from this run on",
            list_or_none(&given),
            list_or_none(&set.recipients)
        )));
    }
    if given.is_empty() && !set.passphrase {
        return Err(Error::Usage(
            "this backup set has no passphrase: it needs at least one recipient".to_string(),
        ));
    }
    record_recipients(cat, &given)
}

fn list_or_none(fprs: &[String]) -> String {
    if fprs.is_empty() {
        "none".to_string()
    } else {
        fprs.join(", ")
    }
}

/// What opens the set, in words.
fn expected(set: &SetKeys) -> String {
    match (set.passphrase, set.recipients.is_empty()) {
        (true, true) => "its passphrase".to_string(),
        (true, false) => format!(
            "its passphrase and its recipients ({})",
            set.recipients.join(", ")
        ),
        (false, _) => format!("its recipients ({})", set.recipients.join(", ")),
    }
}

/// The first run: the check first, so a run killed between the writes leaves no `encrypted`
/// key and the next run records everything again.
fn record(cat: &Catalogue, keys: Option<&Keys>) -> Result<()> {
    if let Some(k) = keys {
        match k.passphrase() {
            Some(p) => {
                let check = encrypt_bytes(CHECK_TEXT, &Keys::from(p.clone()))?;
                cat.set_meta("passphrase_check", &hex(&check))?;
                cat.set_meta("passphrase", "1")?;
            }
            None => cat.set_meta("passphrase", "0")?,
        }
        let fprs = k.recipient_fingerprints();
        if !fprs.is_empty() {
            record_recipients(cat, &fprs)?;
        }
    }
    cat.set_meta("encrypted", if keys.is_some() { "1" } else { "0" })
}

/// Records `fprs` as the set's recipients from now on, and in the history.
fn record_recipients(cat: &Catalogue, fprs: &[String]) -> Result<()> {
    let mut history = cat.meta("recipients_history")?.unwrap_or_default();
    if !history.is_empty() {
        history.push('\n');
    }
    history.push_str(&format!("{} {}", crate::fsutil::now_ns(), fprs.join(",")));
    cat.set_meta("recipients_history", &history)?;
    cat.set_meta("recipients", &fprs.join(","))
}

fn check_recorded(cat: &Catalogue, p: &Passphrase) -> Result<()> {
    if cat.meta("passphrase_check")?.is_none() {
        return Err(Error::Damaged(
            "the catalogue records an encrypted set but no passphrase check".into(),
        ));
    }
    if passphrase_opens(cat, p)? {
        return Ok(());
    }
    Err(Error::Usage(
        "wrong passphrase: it is not the passphrase of this backup set".to_string(),
    ))
}

/// Whether `p` is the passphrase the set recorded on its first run; true for a set that
/// recorded none.
fn passphrase_opens(cat: &Catalogue, p: &Passphrase) -> Result<bool> {
    let Some(stored) = cat.meta("passphrase_check")? else {
        return Ok(true);
    };
    let bytes = unhex(&stored)
        .ok_or_else(|| Error::Damaged("catalogue meta passphrase_check is not hex".into()))?;
    match decrypt_bytes(&bytes, &Keys::from(p.clone())) {
        Ok(plain) => Ok(plain == CHECK_TEXT),
        Err(Error::WrongKey(..)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `keys` open the set `cat` (its working catalogue, which is not encrypted): its
/// passphrase, or the secret key of a recipient it has ever had. The error says what the set
/// expects.
pub(crate) fn check_keys_open(cat: &Catalogue, keys: &Keys) -> Result<()> {
    let Some(set) = set_keys(cat)?.filter(|s| s.encrypted) else {
        return Ok(());
    };
    if let Some(p) = keys.passphrase().filter(|_| set.passphrase) {
        if passphrase_opens(cat, p)? {
            return Ok(());
        }
    }
    let have = keys.identity_fingerprints();
    if have.iter().any(|f| set.ever.contains(f)) {
        return Ok(());
    }
    if set.recipients.is_empty() && have.is_empty() {
        return Err(Error::NotTheSetsKey(String::new()));
    }
    let mut opens = Vec::new();
    if set.passphrase {
        opens.push("its passphrase".to_string());
    }
    if !set.ever.is_empty() {
        opens.push(format!("the secret key of {}", set.ever.join(", ")));
    }
    let given = match (keys.passphrase().is_some(), have.is_empty()) {
        (_, false) => format!("the key given is {}", have.join(", ")),
        (true, true) => "a passphrase was given".to_string(),
        (false, true) => "no passphrase and no key were given".to_string(),
    };
    Err(Error::NotTheSetsKey(format!(
        "it opens with {}; {given}",
        opens.join(" or ")
    )))
}

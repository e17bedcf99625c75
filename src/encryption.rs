//! The backup set's encryption policy: a set is encrypted or not, with one passphrase, from
//! its first run on. The first run records which (meta keys `encrypted` and
//! `passphrase_check`); every later run must match.

use crate::catalogue::Catalogue;
use crate::crypt::{decrypt_bytes, encrypt_bytes, Passphrase};
use crate::error::{Error, Result};
use crate::fsutil::{hex, unhex};

/// Text encrypted into the meta key `passphrase_check` to recognise the passphrase later.
const CHECK_TEXT: &[u8] = b"butcher passphrase check";

/// Records the set's encryption on its first run; on later runs, refuses a run whose
/// passphrase (or lack of one) is not the set's.
pub(crate) fn check_passphrase(cat: &Catalogue, passphrase: Option<&Passphrase>) -> Result<()> {
    let recorded = match cat.meta("encrypted")? {
        Some(v) => v == "1",
        None => return record(cat, passphrase),
    };
    match (recorded, passphrase) {
        (true, None) => Err(Error::Usage(
            "this backup set is encrypted: give its passphrase".to_string(),
        )),
        (false, Some(_)) => Err(Error::Usage(
            "this backup set is not encrypted: use --no-encryption".to_string(),
        )),
        (false, None) => Ok(()),
        (true, Some(p)) => check_recorded(cat, p),
    }
}

/// The first run: the check first, so a run killed between the two writes leaves no
/// `encrypted` key and the next run records both again.
fn record(cat: &Catalogue, passphrase: Option<&Passphrase>) -> Result<()> {
    if let Some(p) = passphrase {
        let check = encrypt_bytes(CHECK_TEXT, p)?;
        cat.set_meta("passphrase_check", &hex(&check))?;
    }
    cat.set_meta("encrypted", if passphrase.is_some() { "1" } else { "0" })
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
/// recorded none (unencrypted).
pub(crate) fn passphrase_opens(cat: &Catalogue, p: &Passphrase) -> Result<bool> {
    let Some(stored) = cat.meta("passphrase_check")? else {
        return Ok(true);
    };
    let bytes = unhex(&stored)
        .ok_or_else(|| Error::Damaged("catalogue meta passphrase_check is not hex".into()))?;
    match decrypt_bytes(&bytes, p) {
        Ok(plain) => Ok(plain == CHECK_TEXT),
        Err(Error::WrongPassphrase(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

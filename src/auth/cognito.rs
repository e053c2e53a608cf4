//! Cognito specifics: a user pool's issuer and JWKS URL, from its id.

/// The issuer of tokens from `pool_id` (`{region}_{id}`, e.g. `us-east-1_AbCdEf123`):
/// `https://cognito-idp.{region}.amazonaws.com/{pool_id}`. `None` when the id
/// does not have that shape (so it cannot smuggle anything into the URL).
pub fn issuer(pool_id: &str) -> Option<String> {
    let (region, id) = pool_id.split_once('_')?;
    let region_ok = !region.is_empty()
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let id_ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
    (region_ok && id_ok).then(|| format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}"))
}

/// Where a pool publishes its signing keys.
pub fn jwks_url(issuer: &str) -> String {
    format!("{issuer}/.well-known/jwks.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_jwks_url_come_from_the_pool_id() {
        let iss = issuer("eu-west-2_AbCdEf123").unwrap();
        assert_eq!(
            iss,
            "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbCdEf123"
        );
        assert_eq!(
            jwks_url(&iss),
            "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbCdEf123/.well-known/jwks.json"
        );
    }

    #[test]
    fn malformed_pool_ids_are_refused() {
        for bad in [
            "",
            "us-east-1",
            "_abc",
            "us-east-1_",
            "evil.com/x_abc",
            "us-east-1_abc/../x",
            "US-EAST-1_abc",
            "us-east-1_a_b",
        ] {
            assert_eq!(issuer(bad), None, "{bad:?}");
        }
    }
}

//! The claim checks: `exp`, `nbf`, `iat`, the lifetime, `iss` and `aud`, at the right second.

use super::Rules;
use crate::clock::{coarse_now, now};
use crate::error::ErrorKind;
use crate::payload::PayloadScan;

impl Rules {
    /// Checks the registered claims against `now` (seconds since the epoch).
    #[cfg(test)]
    pub(crate) fn check(&self, claims: &PayloadScan<'_>, now: i64) -> Result<(), ErrorKind> {
        self.check_with(claims, now, &self.issuers, &self.audiences)
    }

    /// The time to check `claims` at: the coarse clock when no point where a check's verdict
    /// changes (`exp` plus the leeway, `nbf` and `iat` less it, `exp` less the maximum
    /// lifetime when there is no `iat`) is within a second of it, for then the precise clock,
    /// never behind it by more than a second, gives the same verdicts; else the precise clock.
    pub(crate) fn check_time(&self, claims: &PayloadScan<'_>) -> i64 {
        self.check_time_from(claims, coarse_now(), now)
    }

    /// `check_time` with the two clocks given.
    fn check_time_from(&self, claims: &PayloadScan<'_>, coarse: i64, precise: impl FnOnce() -> i64) -> i64 {
        let exp = claims.exp.as_ref().map(|exp| exp.0);
        let lifetime_start = match (&claims.iat, self.max_lifetime) {
            (None, Some(max)) => exp.map(|exp| exp.saturating_sub(max)),
            _ => None,
        };
        let bounds = [
            exp.map(|exp| exp.saturating_add(self.leeway)),
            claims.nbf.as_ref().map(|nbf| nbf.0.saturating_sub(self.leeway)),
            claims.iat.as_ref().map(|iat| iat.0.saturating_sub(self.leeway)),
            lifetime_start,
        ];
        if bounds.iter().flatten().any(|bound| bound.abs_diff(coarse) <= 1) { precise() } else { coarse }
    }

    /// Checks the registered claims against `now`, with these issuers and audiences (a
    /// trusted issuer's own, or the configuration's).
    pub(crate) fn check_with(
        &self,
        claims: &PayloadScan<'_>,
        now: i64,
        issuers: &[String],
        audiences: &[String],
    ) -> Result<(), ErrorKind> {
        let exp = claims.exp.as_ref().ok_or(ErrorKind::MissingClaim)?.0;
        if now >= exp.saturating_add(self.leeway) {
            return Err(ErrorKind::Expired);
        }
        if let Some(nbf) = &claims.nbf
            && now.saturating_add(self.leeway) < nbf.0
        {
            return Err(ErrorKind::NotYetValid);
        }
        if let Some(iat) = &claims.iat
            && iat.0 > now.saturating_add(self.leeway)
        {
            return Err(ErrorKind::IssuedInFuture);
        }
        if let Some(max) = self.max_lifetime {
            let start = claims.iat.as_ref().map_or(now, |iat| iat.0);
            if exp.saturating_sub(start) > max {
                return Err(ErrorKind::LifetimeTooLong);
            }
        }
        if !issuers.is_empty() {
            let iss = claims.iss.as_deref().ok_or(ErrorKind::MissingClaim)?;
            if !issuers.iter().any(|allowed| allowed == iss) {
                return Err(ErrorKind::InvalidIssuer);
            }
        }
        if !audiences.is_empty() {
            let aud = claims.aud.as_ref().ok_or(ErrorKind::MissingClaim)?;
            if !aud.iter().any(|aud| audiences.iter().any(|allowed| allowed == aud)) {
                return Err(ErrorKind::InvalidAudience);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::PathTree;
    use crate::rules::HeaderMemo;

    fn rules() -> Rules {
        Rules {
            leeway: 0,
            issuers: vec!["https://issuer".into()],
            audiences: vec!["api".into()],
            max_lifetime: Some(3600),
            required_type: None,
            max_token_size: 8192,
            grant_paths: PathTree::default(),
            header_memo: HeaderMemo::new(),
        }
    }

    fn check(json: &str, now: i64) -> Result<(), ErrorKind> {
        let rules = rules();
        let claims = PayloadScan::read(json.as_bytes(), &rules.grant_paths).unwrap();
        rules.check(&claims, now)
    }

    /// The checks give the same verdicts at `check_time` as at the precise time, with every
    /// bound around the current second, whether the coarse clock is on the same second as the
    /// precise one or a second behind.
    #[test]
    fn checks_at_the_check_time_match_checks_at_the_precise_time() {
        let mut rules = rules();
        rules.leeway = 1;
        let precise = 1_800_000_000;
        for offset in -4..=4 {
            let at = precise + offset;
            let later = precise + 60;
            for json in [
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{at}}}"#),
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{later},"nbf":{at}}}"#),
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{later},"iat":{at}}}"#),
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{}}}"#, at + 3600),
            ] {
                let claims = PayloadScan::read(json.as_bytes(), &rules.grant_paths).unwrap();
                for coarse in [precise, precise - 1] {
                    let time = rules.check_time_from(&claims, coarse, || precise);
                    assert_eq!(
                        rules.check(&claims, time),
                        rules.check(&claims, precise),
                        "{json}, coarse {coarse}"
                    );
                }
            }
        }
        // Far from every bound, the coarse clock is used as it is.
        let json = format!(r#"{{"exp":{}}}"#, precise + 7200);
        let claims = PayloadScan::read(json.as_bytes(), &rules.grant_paths).unwrap();
        assert_eq!(rules.check_time_from(&claims, precise - 1, || unreachable!()), precise - 1);
    }

    #[test]
    fn exp_equal_to_now_is_expired() {
        let base = r#""iss":"https://issuer","aud":"api""#;
        assert_eq!(check(&format!(r#"{{"exp":100,{base}}}"#), 100), Err(ErrorKind::Expired));
        assert_eq!(check(&format!(r#"{{"exp":101,{base}}}"#), 100), Ok(()));
        assert_eq!(check(&format!(r#"{{{base}}}"#), 100), Err(ErrorKind::MissingClaim));
    }

    #[test]
    fn nbf_iat_lifetime_iss_and_aud_are_enforced() {
        assert_eq!(
            check(r#"{"exp":200,"nbf":101,"iss":"https://issuer","aud":"api"}"#, 100),
            Err(ErrorKind::NotYetValid)
        );
        assert_eq!(
            check(r#"{"exp":200,"iat":101,"iss":"https://issuer","aud":"api"}"#, 100),
            Err(ErrorKind::IssuedInFuture)
        );
        assert_eq!(
            check(r#"{"exp":5000,"iat":100,"iss":"https://issuer","aud":"api"}"#, 100),
            Err(ErrorKind::LifetimeTooLong)
        );
        assert_eq!(
            check(r#"{"exp":200,"iss":"https://other","aud":"api"}"#, 100),
            Err(ErrorKind::InvalidIssuer)
        );
        assert_eq!(check(r#"{"exp":200,"aud":"api"}"#, 100), Err(ErrorKind::MissingClaim));
        assert_eq!(
            check(r#"{"exp":200,"iss":"https://issuer","aud":["x","y"]}"#, 100),
            Err(ErrorKind::InvalidAudience)
        );
        assert_eq!(check(r#"{"exp":200,"iss":"https://issuer","aud":["x","api"]}"#, 100), Ok(()));
        assert_eq!(check(r#"{"exp":200,"iss":"https://issuer"}"#, 100), Err(ErrorKind::MissingClaim));
    }
}

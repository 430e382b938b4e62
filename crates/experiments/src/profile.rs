//! The size profiles every experiment spec defines: `smoke` (seconds),
//! `quick` (minutes on a CPU) and `paper` (the authors' sizes).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A size profile of an experiment; its name is the one specs, the command
/// line and `reports/<target>/<profile>/` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// Seconds, on synthetic stand-ins: a pipeline check.
    Smoke,
    /// Minutes on a CPU, at reduced sizes.
    Quick,
    /// The authors' sizes.
    Paper,
}

impl Profile {
    /// Every profile, smallest first.
    pub const ALL: [Profile; 3] = [Profile::Smoke, Profile::Quick, Profile::Paper];

    /// The profile's name: `smoke`, `quick` or `paper`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Paper => "paper",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name that is none of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfile(pub String);

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
        write!(
            f,
            "unknown profile `{}` (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownProfile {}

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        for p in Profile::ALL {
            assert_eq!(p.to_string().parse::<Profile>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
            let back: Profile = serde_yaml_ng::from_str(p.as_str()).unwrap();
            assert_eq!(back, p);
        }
        let err = "huge".parse::<Profile>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown profile `huge` (expected one of: smoke, quick, paper)"
        );
        let err = serde_yaml_ng::from_str::<Profile>("Smoke")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`Smoke`") && err.contains("smoke, quick, paper"),
            "{err}"
        );
    }
}

//! Data set manifests: `data-manifests/<name>.yaml`, compiled into the crate.
//!
//! A manifest names a data set, its license and citation, and every file it
//! is made of: the mirror URLs to try in order, the byte size, the sha256 of
//! the file as published (or, where only that is published, an 8-hex sha256
//! prefix), optionally the publisher's md5, and, where mirrors re-compress,
//! the size and sha256 of the decompressed content. Each file says in
//! `source` where its checksums came from.
//!
//! Every field is required except `md5`, `content`, `manual` and `homepage`;
//! `size` must be written even when unknown (`size: null`). A missing field
//! is an error naming the manifest, the field and the line.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer};

/// One data set's manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Cache folder and CLI name, e.g. `mnist`.
    pub name: String,
    /// One-line description.
    pub title: String,
    /// The publisher's page.
    #[serde(default)]
    pub homepage: Option<String>,
    /// License or terms of use.
    pub license: String,
    /// How to cite the data set.
    pub citation: String,
    /// Set when the files cannot be downloaded by a program: what to place
    /// where, by hand, before `meg data import NAME --from DIR`.
    #[serde(default)]
    pub manual: Option<String>,
    /// The files, in the order they are fetched.
    pub files: Vec<FileSpec>,
}

/// One published file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// File name in the cache folder.
    pub name: String,
    /// Mirror URLs, tried in order.
    pub urls: Vec<String>,
    /// Byte size as published; `null` where nobody publishes it.
    #[serde(deserialize_with = "required_option")]
    pub size: Option<u64>,
    /// Full sha256 (hex) of the file as published.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Only a sha256 prefix is published (hex); the full hash is recorded in
    /// the cache on first fetch.
    #[serde(default)]
    pub sha256_prefix: Option<String>,
    /// The publisher's md5 (hex), checked as well when given.
    #[serde(default)]
    pub md5: Option<String>,
    /// The decompressed content, for mirrors that re-compress.
    #[serde(default)]
    pub content: Option<Content>,
    /// Where the checksums came from.
    pub source: String,
}

/// Size and hash of a compressed file's content.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Only `gzip` is supported.
    pub compression: Compression,
    /// Decompressed byte size.
    pub size: u64,
    /// sha256 (hex) of the decompressed bytes.
    pub sha256: String,
}

/// Compression of a file whose content is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (RFC 1952), possibly several members.
    Gzip,
}

/// What identifies a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected<'a> {
    /// The full sha256 (lowercase hex).
    Sha256(&'a str),
    /// Only a prefix of it.
    Prefix(&'a str),
}

/// An `Option` whose key must be present (`null` allowed).
fn required_option<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// Names of the data sets whose manifests ship with the crate.
pub const BUILTIN: [&str; 6] = [
    "mnist",
    "fashion-mnist",
    "cifar10",
    "kdd99",
    "celeba",
    "inception-fid",
];

fn builtin_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "mnist" => include_str!("../../../data-manifests/mnist.yaml"),
        "fashion-mnist" => include_str!("../../../data-manifests/fashion-mnist.yaml"),
        "cifar10" => include_str!("../../../data-manifests/cifar10.yaml"),
        "kdd99" => include_str!("../../../data-manifests/kdd99.yaml"),
        "celeba" => include_str!("../../../data-manifests/celeba.yaml"),
        "inception-fid" => include_str!("../../../data-manifests/inception-fid.yaml"),
        _ => return None,
    })
}

impl Manifest {
    /// The built-in manifest of data set `name` (see [`BUILTIN`]).
    pub fn builtin(name: &str) -> Result<Manifest> {
        let text = builtin_text(name).with_context(|| {
            format!("no data set named {name:?}; known: {}", BUILTIN.join(", "))
        })?;
        Manifest::parse(text, &format!("data-manifests/{name}.yaml"))
    }

    /// All built-in manifests, in [`BUILTIN`] order.
    pub fn all() -> Result<Vec<Manifest>> {
        BUILTIN.iter().map(|n| Manifest::builtin(n)).collect()
    }

    /// Parses and checks a manifest; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        let m: Manifest =
            serde_yaml_ng::from_str(text).with_context(|| format!("manifest {origin}"))?;
        m.check().with_context(|| format!("manifest {origin}"))?;
        Ok(m)
    }

    /// The file named `name`.
    pub fn file(&self, name: &str) -> Result<&FileSpec> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .with_context(|| format!("data set {} has no file {name:?}", self.name))
    }

    fn check(&self) -> Result<()> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !s.starts_with('.')
        };
        if !plain(&self.name) {
            bail!("field `name`: {:?} is not a plain folder name", self.name);
        }
        if self.files.is_empty() {
            bail!("field `files`: empty");
        }
        for (i, f) in self.files.iter().enumerate() {
            let at = format!("files[{i}] ({})", f.name);
            if !plain(&f.name) || f.name.ends_with(".part") {
                bail!("{at}, field `name`: not a plain file name");
            }
            if f.urls.is_empty() && self.manual.is_none() {
                bail!("{at}, field `urls`: no mirror and no `manual` instructions");
            }
            match (&f.sha256, &f.sha256_prefix) {
                (Some(h), None) => {
                    check_hex(h, 64).with_context(|| format!("{at}, field `sha256`"))?
                }
                (None, Some(p)) => {
                    check_hex(p, 0).with_context(|| format!("{at}, field `sha256_prefix`"))?;
                    if f.size.is_none() {
                        bail!("{at}: a `sha256_prefix` alone needs a `size`");
                    }
                }
                (None, None) => bail!("{at}: missing field `sha256` (or `sha256_prefix`)"),
                (Some(_), Some(_)) => bail!("{at}: give `sha256` or `sha256_prefix`, not both"),
            }
            if let Some(m) = &f.md5 {
                check_hex(m, 32).with_context(|| format!("{at}, field `md5`"))?;
            }
            if let Some(c) = &f.content {
                check_hex(&c.sha256, 64)
                    .with_context(|| format!("{at}, field `content.sha256`"))?;
            }
        }
        let mut names: Vec<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("field `files`: {:?} listed twice", w[0]);
        }
        Ok(())
    }

    /// Total published size of the files, when every size is known.
    pub fn total_size(&self) -> Option<u64> {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl FileSpec {
    /// What identifies this file's bytes.
    pub fn expected(&self) -> Expected<'_> {
        match (&self.sha256, &self.sha256_prefix) {
            (Some(h), _) => Expected::Sha256(h),
            (None, Some(p)) => Expected::Prefix(p),
            // `Manifest::check` guarantees one of the two.
            (None, None) => Expected::Prefix(""),
        }
    }
}

/// Lowercase hex of length `len` (any non-zero length up to 64 when 0).
fn check_hex(s: &str, len: usize) -> Result<()> {
    let ok_len = if len == 0 {
        (1..=64).contains(&s.len())
    } else {
        s.len() == len
    };
    if !ok_len
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        let want = if len == 0 {
            "1 to 64".to_string()
        } else {
            len.to_string()
        };
        bail!("{s:?} is not {want} lowercase hex digits");
    }
    Ok(())
}

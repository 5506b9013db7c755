//! Loading a configuration file: TOML syntax, types, unknown keys, environment overrides and
//! semantic checks, every problem reported with the file, line and key it is about.

use super::{Config, env, validate};
use std::fmt;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line in the file, when the problem is about something written in it.
    pub line: Option<usize>,
    /// The key it is about, as a dotted path (`meta.app_secret`, `numbers[0].phone_number_id`),
    /// or the environment variable's name.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// A configuration that cannot be used, with every problem found in it.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file (or label) the problems are in.
    pub file: String,
    /// Every problem found, in file order where known.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{}: ", self.file, line)?,
                None => write!(f, "{}: ", self.file)?,
            }
            if !p.key.is_empty() {
                write!(f, "{}: ", p.key)?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

/// A path to a key: table keys and array indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Reads and loads a configuration file, applying `env` overrides (`CALLGATE_<SECTION>_<KEY>`).
pub fn load_file(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: label.clone(),
        problems: vec![ConfigProblem {
            line: None,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        }],
    })?;
    load_str(&label, &text, env)
}

/// Loads a configuration from text; `file` names it in problem reports.
pub fn load_str(
    file: &str,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError {
        file: file.to_string(),
        problems,
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            return Err(fail(vec![ConfigProblem {
                line: e.span().map(|s| line_of(text, s.start)),
                key: String::new(),
                message: format!("not valid TOML: {}", e.message()),
            }]));
        }
    };
    let locate = |path: &[Seg]| locate(root.get_ref(), path).map(|off| line_of(text, off));

    let mut problems = Vec::new();
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let parsed: Result<Config, toml::de::Error> = match toml::Deserializer::parse(text) {
        Ok(de) => serde_ignored::deserialize(de, |p| unknown.push(segments(&p))),
        Err(e) => Err(e),
    };
    for path in &unknown {
        problems.push(ConfigProblem {
            line: locate(path),
            key: path_string(path),
            message: "unknown key: callgate does not use it (misspelt? see config/callgate.toml \
                      for every key)"
                .into(),
        });
    }
    let mut config = match parsed {
        Ok(c) => Some(c),
        Err(e) => {
            let (line, key) = match e.span() {
                Some(span) => {
                    let key = key_at(root.get_ref(), span.start)
                        .map(|p| path_string(&p))
                        .unwrap_or_default();
                    (Some(line_of(text, span.start)), key)
                }
                None => (None, String::new()),
            };
            problems.push(ConfigProblem {
                line,
                key,
                message: e.message().to_string(),
            });
            None
        }
    };
    if let Some(cfg) = config.as_mut() {
        problems.extend(env::apply(cfg, env));
        for (path, message) in validate::validate(cfg) {
            problems.push(ConfigProblem {
                line: locate(&path),
                key: path_string(&path),
                message,
            });
        }
    }
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    match config {
        Some(cfg) if problems.is_empty() => Ok(cfg),
        _ => Err(fail(problems)),
    }
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path;
    let mut out = match path {
        Path::Root => return Vec::new(),
        Path::Seq { parent, .. }
        | Path::Map { parent, .. }
        | Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    };
    match path {
        Path::Seq { index, .. } => out.push(Seg::Index(*index)),
        Path::Map { key, .. } => out.push(Seg::Key(key.clone())),
        _ => {}
    }
    out
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Byte offset of the key (or array element) at `path`, or of its nearest written ancestor.
fn locate(root: &DeTable<'_>, path: &[Seg]) -> Option<usize> {
    let mut table = root;
    let mut value: Option<&DeValue<'_>> = None;
    let mut found = None;
    for seg in path {
        match (seg, value) {
            (Seg::Key(k), None) | (Seg::Key(k), Some(DeValue::Table(_))) => {
                if let Some(DeValue::Table(t)) = value {
                    table = t;
                }
                let (key, v) = table.iter().find(|(key, _)| key.get_ref().as_ref() == k)?;
                found = Some(key.span().start);
                value = Some(v.get_ref());
            }
            (Seg::Index(i), Some(DeValue::Array(a))) => {
                let v: &Spanned<DeValue<'_>> = a.get(*i)?;
                found = Some(v.span().start);
                value = Some(v.get_ref());
            }
            _ => break,
        }
    }
    found
}

/// The path of the key whose written value (or key) contains byte `offset`. Table spans in
/// the parser cover only their headers, so every branch is searched.
fn key_at(root: &DeTable<'_>, offset: usize) -> Option<Vec<Seg>> {
    fn in_value(v: &Spanned<DeValue<'_>>, offset: usize) -> Option<Vec<Seg>> {
        match v.get_ref() {
            DeValue::Table(t) => in_table(t, offset),
            DeValue::Array(a) => a.iter().enumerate().find_map(|(i, item)| {
                let mut sub = in_value(item, offset)
                    .or_else(|| item.span().contains(&offset).then(Vec::new))?;
                sub.insert(0, Seg::Index(i));
                Some(sub)
            }),
            _ => None,
        }
    }
    fn in_table(t: &DeTable<'_>, offset: usize) -> Option<Vec<Seg>> {
        t.iter().find_map(|(k, v)| {
            let mut sub = in_value(v, offset).or_else(|| {
                (v.span().contains(&offset) || k.span().contains(&offset)).then(Vec::new)
            })?;
            sub.insert(0, Seg::Key(k.get_ref().to_string()));
            Some(sub)
        })
    }
    in_table(root, offset)
}

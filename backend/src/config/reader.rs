//! Reads one listed variable: its value or its default, parsed as its entry says.

use super::{ConfigError, RuntimeEnv};
use faro_config_vars::{self as var, Accepts, Fallback, Var};
use faro_resilience::Secret;
use std::{fmt, str::FromStr, time::Duration};

/// The variables of one process, and where it runs (which picks the defaults).
pub(super) struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    env: RuntimeEnv,
}

impl<'a> Vars<'a> {
    /// Reads `FARO_ENV` first: the defaults of every other variable depend on it.
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut vars = Self {
            lookup,
            env: RuntimeEnv::Production,
        };
        vars.env = vars.parse_with(&var::FARO_ENV, |v| {
            RuntimeEnv::from_name(v).ok_or_else(|| "unknown environment".into())
        })?;
        Ok(vars)
    }

    pub(super) fn env(&self) -> RuntimeEnv {
        self.env
    }

    /// The value as given, untrimmed (a password is taken exactly as given).
    pub(super) fn verbatim(&self, var: &Var) -> Option<String> {
        (self.lookup)(var.name)
    }

    /// The value without surrounding whitespace, when set.
    pub(super) fn get(&self, var: &Var) -> Option<String> {
        self.verbatim(var).map(|v| v.trim().to_string())
    }

    /// A value that must be there and not empty, taken as it is.
    pub(super) fn required(&self, var: &Var) -> Result<String, ConfigError> {
        self.get(var)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(var))
    }

    /// The value, else the default in this environment, through `parse`.
    pub(super) fn parse_with<T>(
        &self,
        var: &Var,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = match (self.get(var), var.default_in(self.env)) {
            (Some(v), _) => v,
            (None, Fallback::Value(default)) => default.to_string(),
            (None, Fallback::Required | Fallback::Unset) => return Err(missing(var)),
        };
        parse(&raw).map_err(|reason| invalid(var, reason))
    }

    /// A variable that is off when unset or empty.
    pub(super) fn optional_with<T>(
        &self,
        var: &Var,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(var).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).map_err(|reason| invalid(var, reason)),
        }
    }

    pub(super) fn parse<T>(&self, var: &Var) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.parse_with(var, |v| v.parse::<T>().map_err(|e| format!("{v:?}: {e}")))
    }

    /// A credential: unset or empty is `None`; the value never appears in errors.
    pub(super) fn secret(&self, var: &Var) -> Option<Secret> {
        self.get(var).filter(|v| !v.is_empty()).map(Secret::new)
    }

    /// A credential that must be set and pass `check`; neither error quotes it.
    pub(super) fn required_secret(
        &self,
        var: &Var,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Secret, ConfigError> {
        let value = Secret::new(self.required(var)?);
        check(value.expose()).map_err(|reason| invalid(var, reason))?;
        Ok(value)
    }

    /// A credential that is off when unset, empty or `none` (what a secret that must hold
    /// something says when it holds nothing); else it must pass `check`.
    pub(super) fn optional_secret(
        &self,
        var: &Var,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Option<Secret>, ConfigError> {
        match self.secret(var) {
            Some(value) if value.expose() != "none" => {
                check(value.expose()).map_err(|reason| invalid(var, reason))?;
                Ok(Some(value))
            }
            _ => Ok(None),
        }
    }

    /// A variable listed as [`Accepts::Duration`].
    pub(super) fn duration(&self, var: &Var) -> Result<Duration, ConfigError> {
        let Accepts::Duration { unit, min, max } = var.accepts else {
            unreachable!("{} is not listed as a duration", var.name);
        };
        self.parse_with(var, |v| bounded(v, min, max).map(|n| unit.duration(n)))
    }

    /// A variable listed as [`Accepts::Count`] or [`Accepts::Bytes`].
    pub(super) fn count(&self, var: &Var) -> Result<u32, ConfigError> {
        let (Accepts::Count { min, max, .. } | Accepts::Bytes { min, max }) = var.accepts else {
            unreachable!("{} is not listed as a number", var.name);
        };
        self.parse_with(var, |v| bounded(v, min, max))
    }

    /// A variable listed as [`Accepts::Count`] that is left to its reader when unset or empty.
    pub(super) fn optional_count(&self, var: &Var) -> Result<Option<u32>, ConfigError> {
        let Accepts::Count { min, max, .. } = var.accepts else {
            unreachable!("{} is not listed as a count", var.name);
        };
        self.optional_with(var, |v| bounded(v, min, max))
    }

    /// A variable listed as [`Accepts::Flag`].
    pub(super) fn flag(&self, var: &Var) -> Result<bool, ConfigError> {
        let Accepts::Flag = var.accepts else {
            unreachable!("{} is not listed as a flag", var.name);
        };
        self.parse_with(var, |v| match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("{v:?} is not a boolean")),
        })
    }
}

pub(super) fn missing(var: &Var) -> ConfigError {
    ConfigError::Missing {
        var: var.name,
        expected: var.accepts.expected(),
    }
}

pub(super) fn invalid(var: &Var, reason: String) -> ConfigError {
    ConfigError::Invalid {
        var: var.name,
        expected: var.accepts.expected(),
        reason,
    }
}

/// An AWS endpoint override (`AWS_ENDPOINT_URL_*`), without a trailing slash.
pub(super) fn parse_endpoint(v: &str) -> Result<String, String> {
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(v.trim_end_matches('/').to_owned())
    } else {
        Err("the scheme must be http:// or https://".into())
    }
}

fn bounded(v: &str, min: u32, max: u32) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range")),
        Err(_) => Err(format!("{v:?} is not a whole number")),
    }
}

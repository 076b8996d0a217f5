//! Collecting every field error of a request, so a caller sees all its problems at once.

use warden_domain::{DomainError, FieldError, FieldErrorKind};

#[derive(Default)]
pub(crate) struct Errors(pub(crate) Vec<FieldError>);

impl Errors {
    /// The value, or `None` with its error recorded.
    pub(crate) fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub(crate) fn push(&mut self, field: &str, kind: FieldErrorKind) {
        self.0.push(FieldError::new(field, kind));
    }

    /// The value, recording it as missing when absent.
    pub(crate) fn required<'a>(&mut self, field: &str, value: Option<&'a str>) -> Option<&'a str> {
        if value.is_none() {
            self.push(field, FieldErrorKind::Missing);
        }
        value
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, DomainError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }

    /// Like `finish`, for a value that could only be built when every field was good.
    pub(crate) fn finish_some<T>(self, value: Option<T>) -> Result<T, DomainError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(DomainError::Invalid(self.0)),
        }
    }
}

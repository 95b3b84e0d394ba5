//! The employee record and the rules a submitted form must satisfy.
//!
//! The limits here are the column definitions in `migrations/`: a value that passes
//! validation always fits the table, so the database never has to reject user input.

use serde::{Deserialize, Serialize};

/// Width of each text column, in characters (VARCHAR(64) in utf8mb4 on MySQL).
pub const TEXT_MAX_CHARS: usize = 64;
/// Largest value of the BIGINT `emp_id` column.
pub const EMP_ID_MAX: i64 = i64::MAX;

/// A stored employee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Employee {
    pub emp_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub primary_skill: String,
    pub location: String,
}

impl Employee {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// The add form exactly as submitted. Every field is optional text so that a missing
/// or malformed field becomes a message next to that field instead of a bare 400.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EmployeeForm {
    pub emp_id: String,
    pub first_name: String,
    pub last_name: String,
    pub primary_skill: String,
    pub location: String,
}

/// The lookup form (`/getemp` and `/fetchdata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LookupForm {
    pub emp_id: String,
}

/// The form fields in display order: (name, label).
pub const FIELDS: [(&str, &str); 5] = [
    ("emp_id", "Employee ID"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("primary_skill", "Primary skill"),
    ("location", "Location"),
];

/// One message per invalid field, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, msg)| msg.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses an employee ID: a positive whole number that fits the column.
pub fn parse_emp_id(raw: &str) -> Result<i64, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("Employee ID is required.".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "Employee ID must be a positive whole number (digits only), not \u{201c}{}\u{201d}.",
            shorten(text)
        ));
    }
    match text.parse::<i64>() {
        Ok(0) => Err("Employee ID must be 1 or more.".into()),
        Ok(id) => Ok(id),
        Err(_) => Err(format!("Employee ID must be at most {EMP_ID_MAX}.")),
    }
}

/// Checks one text field: trimmed, required, at most the column width in characters,
/// and free of control characters (which no name or place contains, and which would
/// corrupt logs and exports).
fn text_field(label: &str, raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let chars = value.chars().count();
    if chars == 0 {
        Err(format!("{label} is required."))
    } else if chars > TEXT_MAX_CHARS {
        Err(format!(
            "{label} must be at most {TEXT_MAX_CHARS} characters (it has {chars})."
        ))
    } else if value.chars().any(char::is_control) {
        Err(format!("{label} must not contain control characters."))
    } else if value.contains(char::REPLACEMENT_CHARACTER) {
        // What form decoding leaves of bytes that were not UTF-8: storing it would
        // silently replace what the user sent.
        Err(format!(
            "{label} contains bytes that are not valid UTF-8 text."
        ))
    } else {
        Ok(value.to_owned())
    }
}

/// Echoing a huge rejected value back would bloat the page; a prefix is enough.
fn shorten(text: &str) -> String {
    const KEEP: usize = 24;
    if text.chars().count() <= KEEP {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(KEEP).collect::<String>())
    }
}

impl EmployeeForm {
    /// Validates every field, collecting all problems so the user can fix them at once.
    pub fn validate(&self) -> Result<Employee, FieldErrors> {
        let mut errors = FieldErrors::default();
        let emp_id = parse_emp_id(&self.emp_id)
            .map_err(|msg| errors.0.push(("emp_id", msg)))
            .ok();
        let mut text = |name: &'static str, label: &str, raw: &str| {
            text_field(label, raw)
                .map_err(|msg| errors.0.push((name, msg)))
                .ok()
        };
        let first_name = text("first_name", "First name", &self.first_name);
        let last_name = text("last_name", "Last name", &self.last_name);
        let primary_skill = text("primary_skill", "Primary skill", &self.primary_skill);
        let location = text("location", "Location", &self.location);
        match (emp_id, first_name, last_name, primary_skill, location) {
            (
                Some(emp_id),
                Some(first_name),
                Some(last_name),
                Some(primary_skill),
                Some(location),
            ) => Ok(Employee {
                emp_id,
                first_name,
                last_name,
                primary_skill,
                location,
            }),
            _ => Err(errors),
        }
    }

    /// The submitted value of a field, for re-filling the form.
    pub fn value(&self, field: &str) -> &str {
        match field {
            "emp_id" => &self.emp_id,
            "first_name" => &self.first_name,
            "last_name" => &self.last_name,
            "primary_skill" => &self.primary_skill,
            "location" => &self.location,
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(emp_id: &str, name: &str) -> EmployeeForm {
        EmployeeForm {
            emp_id: emp_id.into(),
            first_name: name.into(),
            last_name: "Lovelace".into(),
            primary_skill: "Maths".into(),
            location: "London".into(),
        }
    }

    #[test]
    fn valid_form_is_trimmed() {
        let e = form(" 42 ", "  Ada ").validate().unwrap();
        assert_eq!((e.emp_id, e.first_name.as_str()), (42, "Ada"));
    }

    #[test]
    fn ids_must_be_positive_whole_numbers_that_fit() {
        for bad in [
            "",
            "  ",
            "abc",
            "-1",
            "0",
            "1.5",
            "1e3",
            "+5",
            "99999999999999999999",
        ] {
            assert!(parse_emp_id(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_emp_id("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_emp_id("007"), Ok(7));
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        let at_limit = "é".repeat(TEXT_MAX_CHARS);
        assert!(form("1", &at_limit).validate().is_ok());
        let over = "é".repeat(TEXT_MAX_CHARS + 1);
        let errors = form("1", &over).validate().unwrap_err();
        assert!(errors.get("first_name").unwrap().contains("at most 64"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = EmployeeForm::default().validate().unwrap_err();
        let names: Vec<_> = errors.0.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "emp_id",
                "first_name",
                "last_name",
                "primary_skill",
                "location"
            ]
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        assert!(form("1", "Ada\u{0}").validate().is_err());
        assert!(form("1", "Ada\nBob").validate().is_err());
        assert!(form("1", "Ada\u{FFFD}").validate().is_err());
    }
}

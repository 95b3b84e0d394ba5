//! The employee record, its form fields, and the rules a submitted form must satisfy.
//!
//! `Field` is the one place a field's form name (which is also its column name), label
//! and width are written; forms, pages, validation and SQL all go through it. An
//! `Employee` can only be built by validating a form (or by the database module, from a
//! row that was validated when it was stored), so a value that exists always fits the
//! table and the database never has to reject user input.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

/// Width of each text column, in characters (VARCHAR(64) in utf8mb4 on MySQL, a CHECK
/// constraint on SQLite).
pub const TEXT_MAX_CHARS: usize = 64;

/// The five fields of the original app's form, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    EmpId,
    FirstName,
    LastName,
    PrimarySkill,
    Location,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::EmpId,
        Field::FirstName,
        Field::LastName,
        Field::PrimarySkill,
        Field::Location,
    ];

    /// The form field's name, which is also the table column's name.
    pub fn name(self) -> &'static str {
        match self {
            Field::EmpId => "emp_id",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::PrimarySkill => "primary_skill",
            Field::Location => "location",
        }
    }

    /// The label next to the form's input, also used in validation messages.
    pub fn label(self) -> &'static str {
        match self {
            Field::EmpId => "Employee ID",
            Field::FirstName => "First name",
            Field::LastName => "Last name",
            Field::PrimarySkill => "Primary skill",
            Field::Location => "Location",
        }
    }

    /// The label on the details page, which keeps the original app's wording.
    pub fn detail_label(self) -> &'static str {
        match self {
            Field::EmpId => "Employee ID",
            Field::FirstName => "First Name",
            Field::LastName => "Last Name",
            Field::PrimarySkill => "Primary Interest",
            Field::Location => "Location",
        }
    }

    /// The ID is a number; every other field is text of at most `TEXT_MAX_CHARS`.
    pub fn is_numeric(self) -> bool {
        self == Field::EmpId
    }

    /// The most characters the column holds, for text fields.
    pub fn max_chars(self) -> Option<usize> {
        (!self.is_numeric()).then_some(TEXT_MAX_CHARS)
    }
}

/// An employee ID: a positive whole number that fits the BIGINT column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmpId(i64);

/// Why a text is not an employee ID; the message is shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmpIdError {
    #[error("Employee ID is required.")]
    Missing,
    #[error("Employee ID must be a positive whole number (digits only), not \u{201c}{0}\u{201d}.")]
    NotDigits(String),
    #[error("Employee ID must be 1 or more.")]
    Zero,
    #[error("Employee ID must be at most {}.", i64::MAX)]
    TooLarge,
}

impl EmpId {
    /// Parses what a user typed: surrounding spaces are ignored, leading zeros allowed.
    pub fn parse(raw: &str) -> Result<EmpId, EmpIdError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(EmpIdError::Missing);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EmpIdError::NotDigits(shorten(text)));
        }
        match text.parse::<i64>() {
            Ok(0) => Err(EmpIdError::Zero),
            Ok(id) => Ok(EmpId(id)),
            Err(_) => Err(EmpIdError::TooLarge),
        }
    }

    /// An ID read back from the database, where only validated IDs are stored.
    pub(crate) fn from_stored(id: i64) -> EmpId {
        EmpId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for EmpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    emp_id: EmpId,
    first_name: String,
    last_name: String,
    primary_skill: String,
    location: String,
}

impl Employee {
    /// An employee read back from the database, whose rows were validated when stored.
    pub(crate) fn from_stored(emp_id: EmpId, text: [String; 4]) -> Employee {
        let [first_name, last_name, primary_skill, location] = text;
        Employee {
            emp_id,
            first_name,
            last_name,
            primary_skill,
            location,
        }
    }

    pub fn emp_id(&self) -> EmpId {
        self.emp_id
    }

    /// First and last name, written straight into the page: the list renders 50 of
    /// them per request.
    pub fn full_name(&self) -> impl fmt::Display + '_ {
        FullName(self)
    }

    /// The text fields in `Field::ALL` order (after the ID), for binding to SQL.
    pub fn text_values(&self) -> [&str; 4] {
        [
            &self.first_name,
            &self.last_name,
            &self.primary_skill,
            &self.location,
        ]
    }

    /// The fields whose values differ from `other`'s, in form order.
    pub fn changed_fields(&self, other: &Employee) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|field| self.value(*field) != other.value(*field))
            .collect()
    }

    /// A field's value as shown on a page: borrowed, but for the ID.
    pub fn value(&self, field: Field) -> Cow<'_, str> {
        match field {
            Field::EmpId => Cow::Owned(self.emp_id.to_string()),
            Field::FirstName => Cow::Borrowed(&self.first_name),
            Field::LastName => Cow::Borrowed(&self.last_name),
            Field::PrimarySkill => Cow::Borrowed(&self.primary_skill),
            Field::Location => Cow::Borrowed(&self.location),
        }
    }
}

struct FullName<'a>(&'a Employee);

impl fmt::Display for FullName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.first_name, self.0.last_name)
    }
}

/// A form as submitted (the add form, the edit form's fields, and the lookup forms,
/// which use its ID). Every field is optional text so that a missing or malformed field
/// becomes a message next to that field instead of a bare 400; fields the form does not
/// know are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmployeeForm {
    values: [String; 5],
}

impl<'de> Deserialize<'de> for EmployeeForm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        EmployeeForm::from_pairs(Vec::<(String, String)>::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)
    }
}

/// Each field at most once: a repeated name would leave it unclear which value counts.
fn duplicate(name: &str) -> String {
    format!("duplicate field `{name}`")
}

impl EmployeeForm {
    /// The form's fields from the submitted names and values; other names are ignored.
    fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut form = EmployeeForm::default();
        let mut seen = [false; 5];
        for (name, value) in pairs {
            let Some(field) = Field::ALL.into_iter().find(|f| f.name() == name) else {
                continue;
            };
            if std::mem::replace(&mut seen[field as usize], true) {
                return Err(duplicate(&name));
            }
            form.values[field as usize] = value;
        }
        Ok(form)
    }
}

impl FromIterator<(Field, String)> for EmployeeForm {
    fn from_iter<I: IntoIterator<Item = (Field, String)>>(pairs: I) -> Self {
        let mut form = EmployeeForm::default();
        for (field, value) in pairs {
            form.values[field as usize] = value;
        }
        form
    }
}

/// One message per invalid field, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(Field, String)>);

impl FieldErrors {
    /// No messages: a form shown as it is.
    pub const fn none() -> FieldErrors {
        FieldErrors(Vec::new())
    }

    /// The message for one field.
    pub fn one(field: Field, message: String) -> FieldErrors {
        FieldErrors(vec![(field, message)])
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, msg)| msg.as_str())
    }

    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.0.iter().map(|(f, _)| *f)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks one text field: trimmed, required, at most the column width in characters,
/// and free of control characters (which no name or place contains, and which would
/// corrupt logs and exports).
fn text_field(field: Field, raw: &str) -> Result<String, String> {
    let label = field.label();
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
        let mut errors = Vec::new();
        let emp_id = EmpId::parse(self.value(Field::EmpId))
            .map_err(|err| errors.push((Field::EmpId, err.to_string())))
            .ok();
        let mut text = |field: Field| {
            text_field(field, self.value(field))
                .map_err(|msg| errors.push((field, msg)))
                .ok()
        };
        let first_name = text(Field::FirstName);
        let last_name = text(Field::LastName);
        let primary_skill = text(Field::PrimarySkill);
        let location = text(Field::Location);
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
            _ => Err(FieldErrors(errors)),
        }
    }

    /// The submitted value of a field, for re-filling the form.
    pub fn value(&self, field: Field) -> &str {
        &self.values[field as usize]
    }

    /// The form an employee would be edited with.
    pub fn from_employee(employee: &Employee) -> EmployeeForm {
        Field::ALL
            .into_iter()
            .map(|field| (field, employee.value(field).into_owned()))
            .collect()
    }

    /// The same form with the ID set: an edit form's ID comes from the page's address,
    /// whatever the read-only field was made to send.
    pub fn with_emp_id(mut self, emp_id: EmpId) -> EmployeeForm {
        self.values[Field::EmpId as usize] = emp_id.to_string();
        self
    }
}

/// The version of a stored employee: 1 when added, one more with every saved edit. An
/// edit form carries the version it was loaded from, so that saving it over a newer
/// version is refused instead of silently undoing someone else's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the edit form's version is missing or not a whole number of 1 or more")]
pub struct InvalidVersion;

impl Version {
    /// Parses the edit form's hidden `version` field, which only a changed page alters.
    pub fn parse(raw: &str) -> Result<Version, InvalidVersion> {
        raw.parse::<i64>()
            .ok()
            .filter(|v| *v >= 1)
            .map(Version)
            .ok_or(InvalidVersion)
    }

    /// A version read back from the database.
    pub(crate) fn from_stored(version: i64) -> Version {
        Version(version)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The edit form as submitted: the employee form plus the version it was loaded from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditForm {
    pub employee: EmployeeForm,
    pub version: String,
}

/// The name of the edit form's hidden version field.
pub const VERSION_FIELD: &str = "version";

impl<'de> Deserialize<'de> for EditForm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut version = None;
        let mut others = Vec::new();
        for (name, value) in Vec::<(String, String)>::deserialize(deserializer)? {
            if name != VERSION_FIELD {
                others.push((name, value));
            } else if version.replace(value).is_some() {
                return Err(serde::de::Error::custom(duplicate(VERSION_FIELD)));
            }
        }
        Ok(EditForm {
            employee: EmployeeForm::from_pairs(others).map_err(serde::de::Error::custom)?,
            version: version.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(emp_id: &str, name: &str) -> EmployeeForm {
        [emp_id, name, "Lovelace", "Maths", "London"]
            .into_iter()
            .zip(Field::ALL)
            .map(|(value, field)| (field, value.to_owned()))
            .collect()
    }

    #[test]
    fn valid_form_is_trimmed() {
        let e = form(" 42 ", "  Ada ").validate().unwrap();
        assert_eq!(
            (e.emp_id().get(), e.value(Field::FirstName)),
            (42, "Ada".into())
        );
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
            assert!(EmpId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(EmpId::parse("9223372036854775807"), Ok(EmpId(i64::MAX)));
        assert_eq!(EmpId::parse("007"), Ok(EmpId(7)));
        assert_eq!(EmpId::parse(""), Err(EmpIdError::Missing));
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        let at_limit = "é".repeat(TEXT_MAX_CHARS);
        assert!(form("1", &at_limit).validate().is_ok());
        let over = "é".repeat(TEXT_MAX_CHARS + 1);
        let errors = form("1", &over).validate().unwrap_err();
        assert!(errors.get(Field::FirstName).unwrap().contains("at most 64"));
    }

    #[test]
    fn every_bad_field_is_reported_in_form_order() {
        let errors = EmployeeForm::default().validate().unwrap_err();
        assert_eq!(errors.fields().collect::<Vec<_>>(), Field::ALL);
    }

    #[test]
    fn control_characters_are_rejected() {
        assert!(form("1", "Ada\u{0}").validate().is_err());
        assert!(form("1", "Ada\nBob").validate().is_err());
        assert!(form("1", "Ada\u{FFFD}").validate().is_err());
    }

    #[test]
    fn a_stored_employee_round_trips_through_its_form() {
        let employee = form("7", "Ada").validate().unwrap();
        assert_eq!(
            EmployeeForm::from_employee(&employee).validate(),
            Ok(employee)
        );
    }

    #[test]
    fn changed_fields_compare_exactly() {
        let before = form("7", "Ada").validate().unwrap();
        let after = form("7", "ADA").validate().unwrap();
        assert_eq!(after.changed_fields(&before), vec![Field::FirstName]);
        assert!(before.changed_fields(&before).is_empty());
    }

    #[test]
    fn versions_are_whole_numbers_from_one() {
        assert_eq!(Version::parse("3").map(Version::get), Ok(3));
        for bad in ["", "0", "-1", "x", "1.0", " 2"] {
            assert_eq!(Version::parse(bad), Err(InvalidVersion), "{bad:?}");
        }
    }

    #[test]
    fn only_the_id_is_numeric_and_text_fields_have_the_column_width() {
        for field in Field::ALL {
            assert_eq!(field.max_chars().is_none(), field.is_numeric());
        }
        assert_eq!(Field::Location.max_chars(), Some(TEXT_MAX_CHARS));
    }
}

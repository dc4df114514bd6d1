//! FastAPI-style validation: a request's fields read one by one, every problem collected as
//! pydantic reports it (`{"loc": [...], "msg": "...", "type": "...", "input": ...}`).

use serde::Serialize;
use serde_json::{Map, Value, json};

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Problem {
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub input: Value,
}

impl Problem {
    pub fn new(loc: Vec<Value>, kind: &'static str, msg: impl Into<String>, input: Value) -> Self {
        Problem {
            loc,
            msg: msg.into(),
            kind,
            input,
        }
    }
}

/// An enum-valued path parameter: its value, or the problem.
pub(crate) fn path_enum<T>(
    name: &str,
    value: &str,
    options: &[&str],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, Problem> {
    parse(value).ok_or_else(|| {
        Problem::new(
            vec![json!("path"), json!(name)],
            "enum",
            format!("Input should be {}", alternatives(options)),
            json!(value),
        )
    })
}

/// `'a', 'b' or 'c'`.
fn alternatives(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The fields of a JSON request body, and the problems found reading them.
pub(crate) struct Fields {
    object: Map<String, Value>,
    problems: Vec<Problem>,
}

impl Fields {
    /// The body as an object. `optional`: an empty body reads as `{}` (a body with no required
    /// field); otherwise it is missing.
    pub fn parse(bytes: &[u8], optional: bool) -> Result<Fields, Vec<Problem>> {
        let body = || vec![json!("body")];
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if optional {
                return Ok(Fields::from(Map::new()));
            }
            return Err(vec![Problem::new(
                body(),
                "missing",
                "Field required",
                Value::Null,
            )]);
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(object)) => Ok(Fields::from(object)),
            Ok(other) => Err(vec![Problem::new(
                body(),
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
                other,
            )]),
            Err(e) => Err(vec![Problem::new(
                vec![json!("body"), json!(e.column())],
                "json_invalid",
                "JSON decode error",
                json!({}),
            )]),
        }
    }

    fn from(object: Map<String, Value>) -> Fields {
        Fields {
            object,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, name: &str, kind: &'static str, msg: impl Into<String>, input: Value) {
        let loc = vec![json!("body"), json!(name)];
        self.problems.push(Problem::new(loc, kind, msg, input));
    }

    /// The value of a field; `null` counts as absent. A required absent field is a problem.
    fn value(&mut self, name: &str, required: bool) -> Option<Value> {
        match self.object.get(name) {
            None | Some(Value::Null) => {
                if required {
                    let input = Value::Object(self.object.clone());
                    self.problem(name, "missing", "Field required", input);
                }
                None
            }
            Some(v) => Some(v.clone()),
        }
    }

    /// A string field, `max` characters at most.
    pub fn string(&mut self, name: &str, required: bool, max: usize) -> Option<String> {
        match self.value(name, required)? {
            Value::String(s) if s.chars().count() > max => {
                let msg = format!("String should have at most {max} characters");
                self.problem(name, "string_too_long", msg, json!(s));
                None
            }
            Value::String(s) => Some(s),
            other => {
                self.problem(name, "string_type", "Input should be a valid string", other);
                None
            }
        }
    }

    /// A string field matching `valid` (described by `pattern`), 1 to `max` characters.
    pub fn pattern(
        &mut self,
        name: &str,
        required: bool,
        max: usize,
        pattern: &str,
        valid: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let s = self.string(name, required, max)?;
        if s.is_empty() {
            let msg = "String should have at least 1 character";
            self.problem(name, "string_too_short", msg, json!(s));
            return None;
        }
        if !valid(&s) {
            let msg = format!("String should match pattern '{pattern}'");
            self.problem(name, "string_pattern_mismatch", msg, json!(s));
            return None;
        }
        Some(s)
    }

    /// One of `options`, parsed by `parse`.
    pub fn one_of<T>(
        &mut self,
        name: &str,
        required: bool,
        options: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let value = self.value(name, required)?;
        match value.as_str().and_then(&parse) {
            Some(t) => Some(t),
            None => {
                let msg = format!("Input should be {}", alternatives(options));
                self.problem(name, "enum", msg, value);
                None
            }
        }
    }

    /// An integer field within `min..=max`.
    pub fn integer(&mut self, name: &str, required: bool, min: i64, max: i64) -> Option<u32> {
        let value = self.value(name, required)?;
        let Some(n) = value.as_i64() else {
            self.problem(name, "int_type", "Input should be a valid integer", value);
            return None;
        };
        if n < min {
            let msg = format!("Input should be greater than or equal to {min}");
            self.problem(name, "greater_than_equal", msg, value);
            return None;
        }
        if n > max {
            let msg = format!("Input should be less than or equal to {max}");
            self.problem(name, "less_than_equal", msg, value);
            return None;
        }
        u32::try_from(n).ok()
    }

    pub fn boolean(&mut self, name: &str, required: bool) -> Option<bool> {
        let value = self.value(name, required)?;
        match value {
            Value::Bool(b) => Some(b),
            other => {
                self.problem(name, "bool_type", "Input should be a valid boolean", other);
                None
            }
        }
    }

    /// A string field `check` accepts (`Err` holds pydantic's "Value error, …" text).
    pub fn checked(
        &mut self,
        name: &str,
        required: bool,
        max: usize,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let s = self.string(name, required, max)?;
        match check(&s) {
            Ok(()) => Some(s),
            Err(why) => {
                self.problem(name, "value_error", format!("Value error, {why}"), json!(s));
                None
            }
        }
    }

    /// The problems found, if any.
    pub fn finish(self) -> Result<(), Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Fields {
        Fields::parse(body.as_bytes(), false).unwrap()
    }

    #[test]
    fn problems_read_like_pydantic() {
        let mut f = fields(r#"{"a": 5, "n": "7", "m": 9, "e": "x", "b": 1}"#);
        assert_eq!(f.string("a", true, 10), None);
        assert_eq!(f.string("missing", true, 10), None);
        assert_eq!(f.string("absent", false, 10), None);
        assert_eq!(f.integer("n", true, 10, 1000), None);
        assert_eq!(f.integer("m", true, 10, 1000), None);
        assert_eq!(f.one_of("e", true, &["p", "q", "r"], |_| None::<u8>), None);
        assert_eq!(f.boolean("b", true), None);
        let problems = f.finish().unwrap_err();
        let kinds: Vec<&str> = problems.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                "string_type",
                "missing",
                "int_type",
                "greater_than_equal",
                "enum",
                "bool_type"
            ]
        );
        assert_eq!(problems[1].loc, [json!("body"), json!("missing")]);
        assert_eq!(
            problems[3].msg,
            "Input should be greater than or equal to 10"
        );
        assert_eq!(problems[4].msg, "Input should be 'p', 'q' or 'r'");
        let rendered = serde_json::to_value(&problems[0]).unwrap();
        assert_eq!(rendered["type"], "string_type");
        assert_eq!(rendered["input"], 5);
    }

    #[test]
    fn patterns_lengths_and_nulls() {
        let lower = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase());
        let mut f = fields(r#"{"p": "ABC", "q": "", "r": "abcd", "s": null, "t": "ok"}"#);
        assert_eq!(f.pattern("p", true, 3, "^[a-z]+$", lower), None);
        assert_eq!(f.pattern("q", true, 3, "^[a-z]+$", lower), None);
        assert_eq!(f.pattern("r", true, 3, "^[a-z]+$", lower), None);
        assert_eq!(f.pattern("s", false, 3, "^[a-z]+$", lower), None);
        assert_eq!(
            f.pattern("t", true, 3, "^[a-z]+$", lower),
            Some("ok".into())
        );
        let kinds: Vec<&str> = f.finish().unwrap_err().iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                "string_pattern_mismatch",
                "string_too_short",
                "string_too_long"
            ]
        );
    }

    #[test]
    fn bodies_that_are_not_objects() {
        let kind = |body: &str| Fields::parse(body.as_bytes(), false).err().unwrap()[0].kind;
        assert_eq!(kind(""), "missing");
        assert_eq!(kind("[1]"), "model_attributes_type");
        assert_eq!(kind("{nope"), "json_invalid");
        assert!(Fields::parse(b"", true).unwrap().finish().is_ok());
    }

    #[test]
    fn path_enums() {
        let p = path_enum(
            "db_type",
            "mysql",
            &["postgresql", "mariadb"],
            |_| None::<u8>,
        );
        let p = p.unwrap_err();
        assert_eq!(p.loc, [json!("path"), json!("db_type")]);
        assert_eq!(p.msg, "Input should be 'postgresql' or 'mariadb'");
    }
}

//! The layout of `bench.json`, as a serde_json [`Formatter`]: objects one key
//! a line (two-space indent), arrays of objects one object a line, other
//! arrays on one line (`[1.81, 1.41, 1.37]`); numbers to four significant
//! digits (more is run-to-run noise), whole ones without a decimal point.

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io::{self, Write};

/// Serializes `value` in the report's layout, with a final newline.
pub fn to_string<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Layout::default());
    value.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// Where the writer is: inside an object, or an array (laid out one element
/// a line once its first element turns out to be an object).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Frame {
    Object { empty: bool },
    Array { block: bool },
}

/// The [`Formatter`] of [`to_string`].
#[derive(Debug, Default)]
struct Layout {
    frames: Vec<Frame>,
    /// Whether the next array element is its array's first.
    first_element: bool,
}

impl Layout {
    /// A newline and the indent of the current depth.
    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        w.write_all("  ".repeat(self.frames.len()).as_bytes())
    }
}

impl Formatter for Layout {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, x: f64) -> io::Result<()> {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            write!(w, "{}", x as i64)
        } else {
            write!(w, "{}", round(x))
        }
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.frames.push(Frame::Array { block: false });
        w.write_all(b"[")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.first_element = first;
        match self.frames.last() {
            _ if first => Ok(()),
            Some(Frame::Array { block: true }) => {
                w.write_all(b",")?;
                self.newline(w)
            }
            _ => w.write_all(b", "),
        }
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(Frame::Array { block: true }) = self.frames.pop() {
            self.newline(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(Frame::Array { block }) = self.frames.last_mut() {
            if self.first_element && !*block {
                *block = true;
                self.newline(w)?;
            }
        }
        self.frames.push(Frame::Object { empty: true });
        w.write_all(b"{")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if let Some(Frame::Object { empty }) = self.frames.last_mut() {
            *empty = false;
        }
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(Frame::Object { empty: false }) = self.frames.pop() {
            self.newline(w)?;
        }
        w.write_all(b"}")
    }
}

/// `x` to four significant digits.
fn round(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout() {
        let v = json!({
            "a": "x\"y\\\n",
            "b": [1.234567, f64::NAN, 88961.0, 12345.678, 0.0000123, -2.5],
            "c": null,
            "d": [{"e": [], "f": {}}, {"g": true}],
            "h": [],
        });
        // serde_json's json! keeps keys sorted.
        assert_eq!(
            to_string(&v).unwrap(),
            "{\n  \"a\": \"x\\\"y\\\\\\n\",\n  \"b\": [1.235, null, 88961, 12350, 0.0000123, -2.5],\n  \
             \"c\": null,\n  \"d\": [\n    {\n      \"e\": [],\n      \"f\": {}\n    },\n    {\n      \
             \"g\": true\n    }\n  ],\n  \"h\": []\n}\n"
        );
    }

    #[test]
    fn rounding() {
        assert_eq!(round(1.234567), 1.235);
        assert_eq!(round(-0.00098765), -0.0009877);
        assert_eq!(round(123456.0), 123500.0);
        assert_eq!(round(0.0), 0.0);
    }
}

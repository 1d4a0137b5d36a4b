//! Strict JSON reading for headers and payloads.
//!
//! One pass over the bytes: duplicate member names are refused at every
//! depth, the members a caller names are kept (strings borrowed from the
//! input where they have no escapes), and everything else is checked and
//! dropped without building a tree. This is what keeps verification close
//! to the cost of the signature check.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value as the registered claims need it: scalars and arrays kept,
/// objects checked and dropped (no registered claim is an object).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClaimValue<'de> {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an `i64`: a float, or an integer out of range.
    Float(f64),
    Str(Cow<'de, str>),
    Array(Vec<ClaimValue<'de>>),
    Object,
}

impl<'de> ClaimValue<'de> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            ClaimValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ClaimValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LiteVisitor)
    }
}

struct LiteVisitor;

impl<'de> Visitor<'de> for LiteVisitor {
    type Value = ClaimValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<ClaimValue<'de>, E> {
        Ok(i64::try_from(v).map_or(ClaimValue::Float(v as f64), ClaimValue::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<ClaimValue<'de>, E> {
        Ok(ClaimValue::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClaimValue<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(ClaimValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClaimValue<'de>, A::Error> {
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            seen.insert(key.0)?;
            map.next_value::<ClaimValue<'de>>()?;
        }
        Ok(ClaimValue::Object)
    }
}

/// An object member name, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_str(LiteVisitor)? {
            ClaimValue::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("member name is not a string")),
        }
    }
}

/// The names of one object so far. Objects in tokens are small: the first
/// names live on the stack and a linear scan beats hashing.
#[derive(Default)]
struct Seen<'de> {
    inline: [Option<Cow<'de, str>>; 16],
    spill: Vec<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    fn insert<E: de::Error>(&mut self, key: Cow<'de, str>) -> Result<(), E> {
        let seen = self
            .inline
            .iter()
            .map_while(Option::as_ref)
            .chain(self.spill.iter());
        if seen.into_iter().any(|k| same(k, &key)) {
            return Err(E::custom("duplicate member name"));
        }
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(key),
            None => self.spill.push(key),
        }
        Ok(())
    }
}

/// String equality inlined for the short names of claims: a call to
/// `memcmp` per comparison was a measurable part of verifying a token.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Reads a JSON object strictly, returning the members named in `wanted`
/// (by position) and checking the rest.
pub(crate) fn scan<'de, const N: usize>(
    json: &'de [u8],
    wanted: &[&str; N],
) -> Result<[Option<ClaimValue<'de>>; N], serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = Scan { wanted }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

struct Scan<'w, const N: usize> {
    wanted: &'w [&'w str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Scan<'_, N> {
    type Value = [Option<ClaimValue<'de>>; N];

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Scan<'_, N> {
    type Value = [Option<ClaimValue<'de>>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: [Option<ClaimValue<'de>>; N] = std::array::from_fn(|_| None);
        let mut seen = Seen::default();
        while let Some(Key(key)) = map.next_key()? {
            let slot = self.wanted.iter().position(|w| same(w, &key));
            seen.insert(key)?;
            let value = map.next_value::<ClaimValue<'de>>()?;
            if let Some(i) = slot {
                found[i] = Some(value);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        fn s(j: &str) -> Result<Option<ClaimValue<'_>>, serde_json::Error> {
            scan(j.as_bytes(), &["a"]).map(|[a]| a)
        }
        assert!(s(r#"{"a":1,"a":2}"#).is_err());
        assert!(s(r#"{"b":1,"b":2}"#).is_err());
        assert!(s(r#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(s(r#"{"x":[{"b":1,"b":1}]}"#).is_err());
        // An escaped name equals its plain spelling.
        assert!(s(r#"{"a":1,"\u0061":2}"#).is_err());
        assert_eq!(s(r#"{"a":1,"b":2}"#).unwrap(), Some(ClaimValue::Int(1)));
        assert_eq!(s(r#"{"b":2}"#).unwrap(), None);
        // Past the names kept on the stack, duplicates are still found.
        let many: Vec<String> = (0..20).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(s(&format!("{{{}}}", many.join(","))).is_ok());
        assert!(s(&format!("{{{},\"k18\":0}}", many.join(","))).is_err());
        assert!(s(&format!("{{{},\"k3\":0}}", many.join(","))).is_err());
    }

    #[test]
    fn only_objects_and_nothing_after() {
        for bad in ["[1]", "1", "\"a\"", "null", "{} {}", "{", ""] {
            assert!(scan(bad.as_bytes(), &["a"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_kept_as_read() {
        let [a, b, c, d] = scan(
            br#"{"a":"x","b":[1,"y"],"c":1.5,"d":18446744073709551615}"#,
            &["a", "b", "c", "d"],
        )
        .unwrap();
        assert_eq!(a.unwrap().as_str(), Some("x"));
        assert_eq!(
            b.unwrap(),
            ClaimValue::Array(vec![ClaimValue::Int(1), ClaimValue::Str("y".into())])
        );
        assert_eq!(c.unwrap(), ClaimValue::Float(1.5));
        assert!(matches!(d.unwrap(), ClaimValue::Float(_)));
    }
}

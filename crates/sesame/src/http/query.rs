//! The query string as serde input, for [`AppQuery`](super::extract::AppQuery).
//!
//! Why not `serde_urlencoded` (axum's `Query`): there a repeated key is an error (`duplicate
//! field`) and a list cannot be read at all. Sesame has always taken the last value of a repeated
//! single-valued parameter (`?limit=abc&limit=10` is a page of ten), and forward authentication
//! needs every value of `audience` and `role`, since all of them must hold. So here a field of a
//! sequence type gets every value, in order, and any other field the last one.
//!
//! Decoding is `form_urlencoded`'s, as before: `+` is a space, invalid percent escapes stay as
//! they are and invalid UTF-8 is replaced — never refused. A value that does not parse into its
//! field's type is refused, with the field's name, by the extractor.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;

/// A whole query string: each key with all of its values.
#[derive(Debug)]
pub struct QueryDeserializer(BTreeMap<String, Vec<String>>);

impl QueryDeserializer {
    pub fn new(raw: &str) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            map.entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        QueryDeserializer(map)
    }
}

impl<'de> Deserializer<'de> for QueryDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(MapDeserializer::new(
            self.0
                .into_iter()
                .map(|(key, values)| (key, Values(values))),
        ))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// The values of one key (never empty): a sequence reads them all, anything else the last.
#[derive(Debug)]
struct Values(Vec<String>);

impl Values {
    fn last(mut self) -> String {
        self.0.pop().unwrap_or_default()
    }
}

impl<'de> IntoDeserializer<'de, Error> for Values {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// Numbers and booleans are read from their text; a value that is not one is refused with what
/// was expected.
macro_rules! parse_last {
    ($($method:ident => $visit:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let text = self.last();
            match text.parse() {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(de::Error::invalid_value(Unexpected::Str(&text), &visitor)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Values {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(self.last())
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(SeqDeserializer::new(
            self.0.into_iter().map(|v| Values(vec![v])),
        ))
    }

    /// A key that is present is `Some`, even when empty (`?q=`): whether an empty value means
    /// "absent" is each field's decision ([`non_empty`], [`non_empty_parsed`]).
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.last().into_deserializer())
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    parse_last! {
        deserialize_bool => visit_bool,
        deserialize_char => visit_char,
        deserialize_i8 => visit_i8,
        deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64,
        deserialize_i128 => visit_i128,
        deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128,
        deserialize_f32 => visit_f32,
        deserialize_f64 => visit_f64,
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit_struct tuple tuple_struct map struct identifier
    }
}

/// For `#[serde(default, deserialize_with = "non_empty")]`: an empty value (`?event=`) is the
/// same as none.
pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = String::deserialize(d)?;
    Ok((!value.is_empty()).then_some(value))
}

/// An optional parameter read with `FromStr`, empty counting as absent; a value that does not
/// parse is refused with `expecting`, the sentence shown to the client under the field's name.
pub fn non_empty_parsed<'de, D: Deserializer<'de>, T: FromStr>(
    d: D,
    expecting: &str,
) -> Result<Option<T>, D::Error> {
    non_empty(d)?
        .map(|v| v.parse().map_err(|_| de::Error::custom(expecting)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Page {
        q: Option<String>,
        limit: Option<u32>,
        #[serde(default)]
        tag: Vec<String>,
        #[serde(default, deserialize_with = "non_empty")]
        event: Option<String>,
        #[serde(default, deserialize_with = "whole")]
        size: Option<u8>,
    }

    fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        non_empty_parsed(d, "must be a small whole number")
    }

    fn page(raw: &str) -> Result<Page, String> {
        serde_path_to_error::deserialize(QueryDeserializer::new(raw)).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })
    }

    #[test]
    fn values_are_decoded_and_typed() {
        assert_eq!(
            page("q=a+b%20c%C3%A9&limit=20&unknown=1").unwrap(),
            Page {
                q: Some("a b cé".into()),
                limit: Some(20),
                tag: vec![],
                event: None,
                size: None,
            }
        );
    }

    #[test]
    fn a_repeated_key_gives_a_single_field_its_last_value_and_a_list_all_in_order() {
        let p = page("limit=abc&limit=5&tag=b&tag=a&q=1&q=").unwrap();
        assert_eq!(p.limit, Some(5), "the bad first value is not read");
        assert_eq!(p.tag, ["b", "a"]);
        assert_eq!(p.q, Some(String::new()));
    }

    #[test]
    fn empty_is_absent_only_where_the_field_says_so() {
        let p = page("q=&event=&size=").unwrap();
        assert_eq!(p.q, Some(String::new()));
        assert_eq!((p.event, p.size), (None, None));
    }

    #[test]
    fn a_value_that_does_not_parse_names_its_field() {
        assert_eq!(
            page("limit=ten").unwrap_err(),
            "limit: invalid value: string \"ten\", expected u32"
        );
        assert_eq!(
            page("limit=-1").unwrap_err(),
            "limit: invalid value: string \"-1\", expected u32"
        );
        assert_eq!(
            page("size=300").unwrap_err(),
            "size: must be a small whole number"
        );
    }

    #[test]
    fn undecodable_bytes_are_kept_lossily_not_refused() {
        assert_eq!(page("q=%ZZ%FF").unwrap().q.as_deref(), Some("%ZZ\u{FFFD}"));
    }
}

//! errors tests.
#[allow(unused_imports)]
use crate::helpers::*;

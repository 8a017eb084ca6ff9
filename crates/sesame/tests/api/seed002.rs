//! seed002 tests.
#[allow(unused_imports)]
use crate::helpers::*;

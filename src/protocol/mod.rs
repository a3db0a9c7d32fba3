//! RESP: the request parser and the reply writer.
pub mod intern;
pub mod parse;
pub mod peek;
pub mod reply;

//! Excel export of people lists.

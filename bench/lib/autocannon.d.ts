// autocannon ships no types; the bench uses a handful of its options and result fields.
declare module 'autocannon';

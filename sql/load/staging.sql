-- strip_text(s): s without its leading and trailing white space: every Unicode White_Space
-- character, as Rust's char::is_whitespace and so polars' strip_chars() take it (tab to
-- carriage return, space, U+0085, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029,
-- U+202F, U+205F, U+3000). DuckDB's trim() without a set strips spaces only.
-- Speed: most values begin and end with a printable ASCII character and come back as they
-- are; only the others go through trim() with the set, which costs about 100 ns a value
-- (seconds over the five text columns of ten million events). The last character is taken
-- with substring(s, -1), which reads from the end: right(s, 1) counts every character first
-- (10M values: 0.20 s against 0.12 s a column). A character's code is read with ord(), not
-- ascii(), which costs more (10M values: 0.41 s against 0.48 s a column, the test with it);
-- both give a code point, and outside 33-126 for '' (-1 and 0).
CREATE OR REPLACE TEMP MACRO strip_text(s) AS
    CASE
        WHEN ord(s) BETWEEN 33 AND 126 AND ord(substring(s, -1)) BETWEEN 33 AND 126 THEN s
        ELSE trim(s, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(133) || chr(160)
                  || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196)
                  || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202)
                  || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288))
    END;

-- time_text(t, sep): a timestamp (naive, or UTC) as text the way polars writes it in JSON, so
-- that attributes read the same whichever way they were loaded: date, sep, time, and the
-- fraction of a second in milliseconds or microseconds as needed ('.860', '.123456'), none
-- when it is zero. DuckDB's own text drops trailing zeros ('.86').
CREATE OR REPLACE TEMP MACRO time_text(t, sep) AS
    strftime(t, '%Y-%m-%d' || sep || '%H:%M:%S')
    || CASE
        WHEN epoch_us(t) % 1000000 = 0 THEN ''
        WHEN epoch_us(t) % 1000 = 0 THEN strftime(t, '.%g')
        ELSE strftime(t, '.%f')
    END;

-- is_token(s, tokens): s is written (not empty) and is one of the missing-value tokens
-- ([source] null_values, pipeline/nulls.py): the values the load reads as missing and counts.
-- Speed: a value longer than every token is none, and its byte count is kept with it, so
-- only the short ones are looked up in the list (the longest token's length is worked out
-- once per vector of rows: the list is a constant). list_contains compares the value with
-- each token in turn: 20 default tokens over the five text columns a load tests were 10% of
-- its insert's CPU time (10M events, perf), most of it on case ids, activities and resources
-- longer than any token.
-- Of the short ones, a value whose first character begins no token is none either: the
-- first characters' codes are compared as numbers, before the value itself is compared with
-- each token as text (10M amounts, team names, lifecycles: 0.44, 0.39, 0.31 CPU-s a column
-- tested against 0.25, 0.24, 0.21; digits, 'I', 's' begin none of the built-in tokens).
-- A CASE, not an AND: DuckDB evaluates every side of an AND in a projection for every row.
CREATE OR REPLACE TEMP MACRO is_token(s, tokens) AS
    s <> ''
    AND CASE
        WHEN strlen(s) > coalesce(list_max(list_transform(tokens, lambda t: strlen(t))), 0) THEN false
        WHEN NOT list_contains(list_transform(tokens, lambda t: ord(t)), ord(s)) THEN false
        ELSE list_contains(tokens, s)
    END;

-- null_token(s, tokens): s, or NULL when it is empty or a missing-value token: an optional
-- value written as '?' is missing.
CREATE OR REPLACE TEMP MACRO null_token(s, tokens) AS
    CASE WHEN s = '' OR is_token(s, tokens) THEN NULL ELSE s END;

-- quoted(s): s in single quotes, for messages ('?').
CREATE OR REPLACE TEMP MACRO quoted(s) AS '''' || s || '''';

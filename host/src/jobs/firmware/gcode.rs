//! How a G-code line is read: its checksum, its line number, its command
//! and parameters.

/// The checksum of a line: the XOR of its bytes before `*`.
pub(crate) fn checksum(body: &str) -> u8 {
    body.bytes().fold(0, |sum, b| sum ^ b)
}

/// Splits `N<n> <command>` into its line number and command.
pub(crate) fn split_line_number(body: &str) -> (Option<u64>, &str) {
    let body = body.trim();
    let Some(rest) = body.strip_prefix(['N', 'n']) else {
        return (None, body);
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match rest[..digits].parse() {
        Ok(n) => (Some(n), rest[digits..].trim()),
        Err(_) => (None, body),
    }
}

/// One command: `G1 X10 F1500` is letter `G`, code 1, parameters X and F.
#[derive(Debug)]
pub(crate) struct Command<'a> {
    pub(crate) letter: char,
    pub(crate) code: Option<u32>,
    /// The text after the code, as sent (`M117`'s message).
    pub(crate) rest: &'a str,
    /// Parameter letters (upper case) with their values, if they have one.
    pub(crate) params: Vec<(char, Option<f64>)>,
}

impl<'a> Command<'a> {
    pub(crate) fn parse(text: &'a str) -> Self {
        let mut chars = text.chars();
        let letter = chars.next().unwrap_or(' ').to_ascii_uppercase();
        let after_letter = chars.as_str();
        let digits = after_letter.len()
            - after_letter
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        let code = after_letter[..digits].parse().ok();
        let mut rest = &after_letter[digits..];
        // A subcode (`G29.1`) is not modelled; it is skipped.
        if let Some(sub) = rest.strip_prefix('.') {
            rest = sub.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        let code = if letter.is_ascii_alphabetic() {
            code
        } else {
            None
        };
        Self {
            letter,
            code,
            rest,
            params: parse_params(rest),
        }
    }

    pub(crate) fn is(&self, letter: char, code: u32) -> bool {
        self.letter == letter && self.code == Some(code)
    }

    pub(crate) fn has(&self, letter: char) -> bool {
        self.params.iter().any(|(l, _)| *l == letter)
    }

    pub(crate) fn value(&self, letter: char) -> Option<f64> {
        self.params
            .iter()
            .find(|(l, v)| *l == letter && v.is_some())
            .and_then(|(_, v)| *v)
    }
}

/// `X10 Y-2.5 E` → `[(X, 10), (Y, -2.5), (E, none)]`.
pub(crate) fn parse_params(text: &str) -> Vec<(char, Option<f64>)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_alphabetic() {
            continue;
        }
        let mut number = String::new();
        while let Some(&d) = chars.peek() {
            if !(d.is_ascii_digit() || matches!(d, '.' | '-' | '+')) {
                break;
            }
            number.push(d);
            chars.next();
        }
        params.push((c.to_ascii_uppercase(), number.parse().ok()));
    }
    params
}

//! Speaking numbers, counts, dates and times as sequences of prompt ids (Asterisk's `digits/` names), the
//! way an English speaker says them: "twenty-three", "two fifteen p.m.", "Monday, November twenty-third".
//! Pure functions; the caller supplies local time already broken into fields.

use super::Audio;

/// A wall-clock moment in the mailbox owner's time zone, broken into what is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Day of the week, 0 = Sunday.
    pub weekday: u8,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, 1-31.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
}

fn p(id: String) -> Audio {
    Audio::Prompt(id)
}

/// A cardinal number (0-999 999) as prompts: `123` is "one hundred twenty three".
pub fn number(n: u32) -> Vec<Audio> {
    let mut out = Vec::new();
    let n = n.min(999_999);
    if n == 0 {
        out.push(p("digits/0".into()));
        return out;
    }
    if n >= 1000 {
        out.extend(number(n / 1000));
        out.push(p("digits/thousand".into()));
    }
    let rest = n % 1000;
    if rest >= 100 {
        out.push(p(format!("digits/{}", rest / 100)));
        out.push(p("digits/hundred".into()));
    }
    let tens = rest % 100;
    if tens >= 20 {
        out.push(p(format!("digits/{}", tens / 10 * 10)));
        if !tens.is_multiple_of(10) {
            out.push(p(format!("digits/{}", tens % 10)));
        }
    } else if tens > 0 {
        out.push(p(format!("digits/{tens}")));
    }
    out
}

/// A string of digits spoken one by one ("one oh one" is said "one zero one"); `*` and `#` by name.
pub fn digits(s: &str) -> Vec<Audio> {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(p(format!("digits/{c}"))),
            '*' => Some(p("digits/star".into())),
            '#' => Some(p("digits/pound".into())),
            _ => None,
        })
        .collect()
}

/// "first" .. "thirty-first".
pub fn ordinal(day: u8) -> Audio {
    p(format!("digits/h-{}", day.clamp(1, 31)))
}

/// A time of day, 12-hour: "two fifteen p.m.", "two oh five p.m.", "two o'clock p.m.".
pub fn time_of_day(hour: u8, minute: u8) -> Vec<Audio> {
    let h12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    let mut out = number(u32::from(h12));
    match minute {
        0 => out.push(p("digits/oclock".into())),
        1..=9 => {
            out.push(p("digits/oh".into()));
            out.extend(number(u32::from(minute)));
        }
        _ => out.extend(number(u32::from(minute))),
    }
    out.push(p(if hour < 12 {
        "digits/a-m"
    } else {
        "digits/p-m"
    }
    .into()));
    out
}

/// "Monday, November twenty-third at two fifteen p.m."
pub fn date_time(t: LocalTime) -> Vec<Audio> {
    let mut out = vec![
        p(format!("digits/day-{}", t.weekday % 7)),
        p(format!("digits/mon-{}", t.month.clamp(1, 12) - 1)),
        ordinal(t.day),
        p("digits/at".into()),
    ];
    out.extend(time_of_day(t.hour, t.minute));
    out
}

/// "three new messages", "one old message", "no messages" (`folder` is the folder's prompt id or none).
pub fn count(n: usize, folder: Option<&str>) -> Vec<Audio> {
    let mut out = if n == 0 {
        vec![p("vm-no".into())]
    } else {
        number(n as u32)
    };
    if let Some(f) = folder {
        out.push(p(f.into()));
    }
    out.push(p(if n == 1 { "vm-message" } else { "vm-messages" }.into()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[Audio]) -> Vec<String> {
        v.iter()
            .map(|a| match a {
                Audio::Prompt(id) => id.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn numbers_are_said_as_words() {
        assert_eq!(ids(&number(0)), ["digits/0"]);
        assert_eq!(ids(&number(7)), ["digits/7"]);
        assert_eq!(ids(&number(15)), ["digits/15"]);
        assert_eq!(ids(&number(20)), ["digits/20"]);
        assert_eq!(ids(&number(23)), ["digits/20", "digits/3"]);
        assert_eq!(
            ids(&number(305)),
            ["digits/3", "digits/hundred", "digits/5"]
        );
        assert_eq!(
            ids(&number(2140)),
            [
                "digits/2",
                "digits/thousand",
                "digits/1",
                "digits/hundred",
                "digits/40"
            ]
        );
    }

    #[test]
    fn times_are_said_on_a_twelve_hour_clock() {
        assert_eq!(
            ids(&time_of_day(14, 15)),
            ["digits/2", "digits/15", "digits/p-m"]
        );
        assert_eq!(
            ids(&time_of_day(9, 5)),
            ["digits/9", "digits/oh", "digits/5", "digits/a-m"]
        );
        assert_eq!(
            ids(&time_of_day(0, 0)),
            ["digits/12", "digits/oclock", "digits/a-m"]
        );
        assert_eq!(
            ids(&time_of_day(12, 30)),
            ["digits/12", "digits/30", "digits/p-m"]
        );
    }

    #[test]
    fn the_issue_example_date_is_said_naturally() {
        let t = LocalTime {
            weekday: 1,
            month: 11,
            day: 23,
            hour: 14,
            minute: 15,
        };
        assert_eq!(
            ids(&date_time(t)),
            [
                "digits/day-1",
                "digits/mon-10",
                "digits/h-23",
                "digits/at",
                "digits/2",
                "digits/15",
                "digits/p-m"
            ]
        );
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(
            ids(&count(3, Some("vm-INBOX"))),
            ["digits/3", "vm-INBOX", "vm-messages"]
        );
        assert_eq!(
            ids(&count(1, Some("vm-Old"))),
            ["digits/1", "vm-Old", "vm-message"]
        );
        assert_eq!(ids(&count(0, None)), ["vm-no", "vm-messages"]);
    }

    #[test]
    fn extension_numbers_are_said_digit_by_digit() {
        assert_eq!(ids(&digits("101")), ["digits/1", "digits/0", "digits/1"]);
        assert_eq!(
            ids(&digits("*9#")),
            ["digits/star", "digits/9", "digits/pound"]
        );
    }
}

//! The ManagerAssistant group model and the Callisto API's parameters: every `gr_*` parameter with its
//! type, default and allowed values (seed 002), the member (`gm_*`), VIP number (`vn_*`) and announcement
//! (`an_*`) parameters, parsed from untrusted text into checked values. No IO; the web layer maps the
//! outcome to the vendor's XML statuses.

use std::collections::BTreeMap;

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A mandatory parameter is absent or empty (`PARAMETER_MISSING`).
    #[error("parameter {0} is missing")]
    Missing(&'static str),
    /// A value outside the allowed ones (`ERROR`).
    #[error("parameter {name} has an invalid value {value:?}: {expected}")]
    Invalid {
        /// Parameter name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

/// Overflow action of a group (`gr_overflow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// `-1`: back to the first available assistant or manager.
    None,
    /// `-3` or `busy`: busy signal.
    Busy,
    /// `voicemail:<box>`.
    Voicemail(String),
    /// A phone number.
    Number(String),
}

impl Overflow {
    /// The canonical API text (`-1`, `-3`, `voicemail:101`, `4321`).
    pub fn as_api(&self) -> String {
        match self {
            Overflow::None => "-1".into(),
            Overflow::Busy => "-3".into(),
            Overflow::Voicemail(b) => format!("voicemail:{b}"),
            Overflow::Number(n) => n.clone(),
        }
    }

    fn parse(v: &str) -> Result<Overflow, ParamError> {
        let bad = || ParamError::Invalid {
            name: "gr_overflow",
            value: v.into(),
            expected: "-1, -3, busy, voicemail:<box number> or a phone number",
        };
        let v = v.trim();
        match v {
            "-1" => Ok(Overflow::None),
            "-3" => Ok(Overflow::Busy),
            _ if v.eq_ignore_ascii_case("busy") => Ok(Overflow::Busy),
            _ => {
                if let Some(b) = v.strip_prefix("voicemail:") {
                    if is_number(b) {
                        return Ok(Overflow::Voicemail(b.into()));
                    }
                    return Err(bad());
                }
                if is_number(v) {
                    Ok(Overflow::Number(v.into()))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty()
        && digits.len() <= 32
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

/// Every setting of a group, with the seed's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// `gr_name` (mandatory on add).
    pub name: String,
    /// `gr_welcome`: announcement WAV when the manager is called ("" = none).
    pub welcome: String,
    /// `gr_ringParallel`: ring assistants in parallel.
    pub ring_parallel: bool,
    /// `gr_number`: manager number ("" = none).
    pub number: String,
    /// `gr_managerTimeout` seconds (0 = off).
    pub manager_timeout: u32,
    /// `gr_assistantTimeout` seconds (0 = off).
    pub assistant_timeout: u32,
    /// `gr_overflow`.
    pub overflow: Overflow,
    /// `gr_showVIPcall`: 0 manager, 1 all, 2 marked.
    pub show_vip_call: u8,
    /// `gr_VIPCallsRouting`: 0, 1 or 2.
    pub vip_calls_routing: u8,
    /// `gr_assistantToMng`: connect assistants directly with the manager.
    pub assistant_to_mng: bool,
    /// `gr_showCalls`: show call information.
    pub show_calls: bool,
    /// `gr_VIPThreshold`: 0 all callers VIP, 1-5 level, above 5 disabled.
    pub vip_threshold: u32,
    /// `gr_callerName`: caller name mask ("" = as received).
    pub caller_name: String,
    /// `gr_callerNumber`: caller number mask ("" = as received).
    pub caller_number: String,
    /// `gr_mngCallAlarm`: manager call tone on system phones.
    pub mng_call_alarm: String,
    /// `gr_assistCallAlarm`: assistant call tone on system phones.
    pub assist_call_alarm: String,
    /// `gr_mngCallAlarmJ`: manager call tone on Jabber/COC/gadget.
    pub mng_call_alarm_j: String,
    /// `gr_assistCallAlarmJ`: assistant call tone on Jabber/COC/gadget.
    pub assist_call_alarm_j: String,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            name: String::new(),
            welcome: String::new(),
            ring_parallel: false,
            number: String::new(),
            manager_timeout: 0,
            assistant_timeout: 0,
            overflow: Overflow::None,
            show_vip_call: 1,
            vip_calls_routing: 0,
            assistant_to_mng: false,
            show_calls: true,
            vip_threshold: 5,
            caller_name: String::new(),
            caller_number: String::new(),
            mng_call_alarm: String::new(),
            assist_call_alarm: String::new(),
            mng_call_alarm_j: String::new(),
            assist_call_alarm_j: String::new(),
        }
    }
}

/// The group parameters in the order the API documents them (name without `gr_` = XML element).
pub const GROUP_PARAMS: [&str; 18] = [
    "name",
    "welcome",
    "ringParallel",
    "number",
    "managerTimeout",
    "assistantTimeout",
    "overflow",
    "showVIPcall",
    "VIPCallsRouting",
    "assistantToMng",
    "showCalls",
    "VIPThreshold",
    "callerName",
    "callerNumber",
    "mngCallAlarm",
    "assistCallAlarm",
    "mngCallAlarmJ",
    "assistCallAlarmJ",
];

/// Request parameters, looked up case-insensitively (the seed spells `gr_showVIPcall` and
/// `gr_showVIPCall` both).
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// From name/value pairs (later values win).
    pub fn new<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Params {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// A mandatory, non-empty parameter.
    pub fn required(&self, name: &'static str) -> Result<&str, ParamError> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ParamError::Missing(name)),
        }
    }

    /// An id parameter (positive integer): missing → `Missing`, not a number → `Invalid`.
    pub fn id(&self, name: &'static str) -> Result<i64, ParamError> {
        let v = self.required(name)?;
        v.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ParamError::Invalid {
                name,
                value: v.into(),
                expected: "a positive integer id",
            })
    }
}

fn text(name: &'static str, v: &str) -> Result<String, ParamError> {
    if v.len() > 200 || v.chars().any(|c| c.is_control()) {
        return Err(ParamError::Invalid {
            name,
            value: v.chars().take(40).collect(),
            expected: "at most 200 printable characters",
        });
    }
    Ok(v.to_string())
}

fn boolean(name: &'static str, v: &str) -> Result<bool, ParamError> {
    match v.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(ParamError::Invalid {
            name,
            value: v.into(),
            expected: "0 or 1",
        }),
    }
}

fn seconds(name: &'static str, v: &str) -> Result<u32, ParamError> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= 86_400)
        .ok_or_else(|| ParamError::Invalid {
            name,
            value: v.into(),
            expected: "a whole number of seconds (0 disables)",
        })
}

impl GroupSettings {
    /// Apply the `gr_*` parameters present in `p` to these settings; the first invalid value refuses
    /// the whole change (nothing is applied).
    pub fn apply(&self, p: &Params) -> Result<GroupSettings, ParamError> {
        let mut g = self.clone();
        if let Some(v) = p.get("gr_name") {
            let v = v.trim();
            if v.is_empty() {
                return Err(ParamError::Missing("gr_name"));
            }
            g.name = text("gr_name", v)?;
        }
        if let Some(v) = p.get("gr_welcome") {
            g.welcome = text("gr_welcome", v)?;
        }
        if let Some(v) = p.get("gr_ringParallel") {
            g.ring_parallel = boolean("gr_ringParallel", v)?;
        }
        if let Some(v) = p.get("gr_number") {
            if !v.is_empty() && !is_number(v) {
                return Err(ParamError::Invalid {
                    name: "gr_number",
                    value: v.into(),
                    expected: "a phone number (digits) or empty",
                });
            }
            g.number = v.to_string();
        }
        if let Some(v) = p.get("gr_managerTimeout") {
            g.manager_timeout = seconds("gr_managerTimeout", v)?;
        }
        if let Some(v) = p.get("gr_assistantTimeout") {
            g.assistant_timeout = seconds("gr_assistantTimeout", v)?;
        }
        if let Some(v) = p.get("gr_overflow") {
            g.overflow = Overflow::parse(v)?;
        }
        if let Some(v) = p.get("gr_showVIPcall") {
            g.show_vip_call = match v.trim().to_ascii_lowercase().as_str() {
                "0" | "manager" => 0,
                "1" | "all" => 1,
                "2" | "marked" => 2,
                _ => {
                    return Err(ParamError::Invalid {
                        name: "gr_showVIPcall",
                        value: v.into(),
                        expected: "0/manager, 1/all or 2/marked",
                    })
                }
            };
        }
        if let Some(v) = p.get("gr_VIPCallsRouting") {
            g.vip_calls_routing = match v.trim() {
                "0" => 0,
                "1" => 1,
                "2" => 2,
                _ => {
                    return Err(ParamError::Invalid {
                        name: "gr_VIPCallsRouting",
                        value: v.into(),
                        expected: "0, 1 or 2",
                    })
                }
            };
        }
        if let Some(v) = p.get("gr_assistantToMng") {
            g.assistant_to_mng = boolean("gr_assistantToMng", v)?;
        }
        if let Some(v) = p.get("gr_showCalls") {
            g.show_calls = boolean("gr_showCalls", v)?;
        }
        if let Some(v) = p.get("gr_VIPThreshold") {
            g.vip_threshold = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 1000)
                .ok_or_else(|| ParamError::Invalid {
                    name: "gr_VIPThreshold",
                    value: v.into(),
                    expected: "0 (all callers VIP), 1-5, or above 5 (threshold off)",
                })?;
        }
        for (name, field) in [
            ("gr_callerName", &mut g.caller_name),
            ("gr_callerNumber", &mut g.caller_number),
            ("gr_mngCallAlarm", &mut g.mng_call_alarm),
            ("gr_assistCallAlarm", &mut g.assist_call_alarm),
            ("gr_mngCallAlarmJ", &mut g.mng_call_alarm_j),
            ("gr_assistCallAlarmJ", &mut g.assist_call_alarm_j),
        ] {
            if let Some(v) = p.get(name) {
                *field = text(name, v)?;
            }
        }
        Ok(g)
    }

    /// The value of an API parameter (name without `gr_`) as the API writes it.
    pub fn api_value(&self, param: &str) -> String {
        let b = |x: bool| if x { "1" } else { "0" }.to_string();
        match param {
            "name" => self.name.clone(),
            "welcome" => self.welcome.clone(),
            "ringParallel" => b(self.ring_parallel),
            "number" => self.number.clone(),
            "managerTimeout" => self.manager_timeout.to_string(),
            "assistantTimeout" => self.assistant_timeout.to_string(),
            "overflow" => self.overflow.as_api(),
            "showVIPcall" => self.show_vip_call.to_string(),
            "VIPCallsRouting" => self.vip_calls_routing.to_string(),
            "assistantToMng" => b(self.assistant_to_mng),
            "showCalls" => b(self.show_calls),
            "VIPThreshold" => self.vip_threshold.to_string(),
            "callerName" => self.caller_name.clone(),
            "callerNumber" => self.caller_number.clone(),
            "mngCallAlarm" => self.mng_call_alarm.clone(),
            "assistCallAlarm" => self.assist_call_alarm.clone(),
            "mngCallAlarmJ" => self.mng_call_alarm_j.clone(),
            "assistCallAlarmJ" => self.assist_call_alarm_j.clone(),
            _ => String::new(),
        }
    }

    /// Parse back from stored API values (the store keeps each parameter as its API text).
    pub fn from_api(values: &BTreeMap<String, String>) -> GroupSettings {
        let p = Params::new(values.iter().map(|(k, v)| (format!("gr_{k}"), v.clone())));
        GroupSettings::default().apply(&p).unwrap_or_default()
    }
}

/// A group member (`gm_*`): manager (`gm_type` 1) or assistant (0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSettings {
    /// `usr_Name`: the member's user (display) name.
    pub user_name: String,
    /// `mb_number`: the member's phone number (extension).
    pub number: String,
    /// `gm_shortName`: short name used in caller-name masks.
    pub short_name: String,
    /// `gm_type`: true = manager, false = assistant.
    pub manager: bool,
    /// `displayedGroup`: the group shown on the member's phone (a group id, or empty).
    pub displayed_group: String,
}

impl MemberSettings {
    /// Build from `addMember` parameters (`mb_number` mandatory) or apply `editMember` ones.
    pub fn apply(base: Option<&MemberSettings>, p: &Params) -> Result<MemberSettings, ParamError> {
        let mut m = match base {
            Some(b) => b.clone(),
            None => MemberSettings {
                user_name: String::new(),
                number: p.required("mb_number")?.to_string(),
                short_name: String::new(),
                manager: false,
                displayed_group: String::new(),
            },
        };
        if let Some(v) = p.get("mb_number") {
            if !is_number(v.trim()) {
                return Err(ParamError::Invalid {
                    name: "mb_number",
                    value: v.into(),
                    expected: "a phone number (digits)",
                });
            }
            m.number = v.trim().to_string();
        }
        if let Some(v) = p.get("usr_Name") {
            m.user_name = text("usr_Name", v)?;
        }
        if let Some(v) = p.get("gm_shortName") {
            m.short_name = text("gm_shortName", v)?;
        }
        if let Some(v) = p.get("gm_type") {
            m.manager = match v.trim() {
                "1" => true,
                "0" => false,
                _ => {
                    return Err(ParamError::Invalid {
                        name: "gm_type",
                        value: v.into(),
                        expected: "1 (manager) or 0 (assistant)",
                    })
                }
            };
        }
        if let Some(v) = p.get("displayedGroup") {
            if !v.is_empty() && v.parse::<i64>().is_err() {
                return Err(ParamError::Invalid {
                    name: "displayedGroup",
                    value: v.into(),
                    expected: "a group id or empty",
                });
            }
            m.displayed_group = v.to_string();
        }
        Ok(m)
    }
}

/// A VIP number (`vn_*`), optionally tied to a member (`mb_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSettings {
    /// `vn_number`.
    pub number: String,
    /// `vn_description`.
    pub description: String,
    /// `mb_id`: the member whose VIP list it is (0 = the group's).
    pub member: i64,
}

impl VipSettings {
    /// Build from `addVIPNumber` parameters (`vn_number` mandatory) or apply `editVIPNumber` ones.
    pub fn apply(base: Option<&VipSettings>, p: &Params) -> Result<VipSettings, ParamError> {
        let mut v = match base {
            Some(b) => b.clone(),
            None => VipSettings {
                number: p.required("vn_number")?.to_string(),
                description: String::new(),
                member: 0,
            },
        };
        if let Some(n) = p.get("vn_number") {
            let n = n.trim();
            // Caller numbers may carry a trailing * wildcard.
            let core = n.strip_suffix('*').unwrap_or(n);
            if !is_number(core) {
                return Err(ParamError::Invalid {
                    name: "vn_number",
                    value: n.into(),
                    expected: "a phone number, optionally ending in *",
                });
            }
            v.number = n.to_string();
        }
        if let Some(d) = p.get("vn_description") {
            v.description = text("vn_description", d)?;
        }
        if let Some(m) = p.get("mb_id") {
            v.member = m
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|x| *x >= 0)
                .ok_or_else(|| ParamError::Invalid {
                    name: "mb_id",
                    value: m.into(),
                    expected: "a member id (0 = the whole group)",
                })?;
        }
        Ok(v)
    }
}

/// A group announcement (`an_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementSettings {
    /// `an_wave`: the WAV file name.
    pub wave: String,
    /// `an_priority`: order of play (lower first).
    pub priority: u32,
}

impl AnnouncementSettings {
    /// Build from `addAnnouncement` parameters (`an_wave` mandatory) or apply edits.
    pub fn apply(
        base: Option<&AnnouncementSettings>,
        p: &Params,
    ) -> Result<AnnouncementSettings, ParamError> {
        let mut a = match base {
            Some(b) => b.clone(),
            None => AnnouncementSettings {
                wave: p.required("an_wave")?.to_string(),
                priority: 0,
            },
        };
        if let Some(w) = p.get("an_wave") {
            let w = w.trim();
            if w.is_empty() || w.contains('/') || w.contains('\\') || w.contains("..") {
                return Err(ParamError::Invalid {
                    name: "an_wave",
                    value: w.into(),
                    expected: "a WAV file name (no path)",
                });
            }
            a.wave = text("an_wave", w)?;
        }
        if let Some(pr) = p.get("an_priority") {
            a.priority = pr
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|x| *x <= 1000)
                .ok_or_else(|| ParamError::Invalid {
                    name: "an_priority",
                    value: pr.into(),
                    expected: "a whole number 0-1000",
                })?;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &[(&str, &str)]) -> Params {
        Params::new(s.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn the_seed_example_group_parses_with_every_value() {
        let p = params(&[
            ("gr_name", "groupName"),
            ("gr_welcome", "Welcome.wav"),
            ("gr_ringParallel", "1"),
            ("gr_number", "5555"),
            ("gr_managerTimeout", "10"),
            ("gr_assistantTimeout", "10"),
            ("gr_overflow", "4321"),
            ("gr_showVIPCall", "2"),
            ("gr_assistantToMng", "1"),
            ("gr_showCalls", "0"),
            ("gr_mngCallAlarm", "Harp.wav"),
            ("gr_assistCallAlarm", "Analog.wav"),
            ("gr_VIPThreshold", "3"),
            ("gr_mngCallAlarmJ", "Analog1.mp3"),
            ("gr_assistCallAlarmJ", "Analog2.mp3"),
            ("gr_callerName", "%managerShortName%**%callerName%"),
            ("gr_callerNumber", "%managerNumber%**%callerNumber%"),
        ]);
        let g = GroupSettings::default().apply(&p).unwrap();
        assert_eq!(g.name, "groupName");
        assert!(g.ring_parallel && g.assistant_to_mng && !g.show_calls);
        assert_eq!(g.overflow, Overflow::Number("4321".into()));
        assert_eq!((g.show_vip_call, g.vip_threshold), (2, 3));
        assert_eq!(g.caller_name, "%managerShortName%**%callerName%");
        assert_eq!(g.api_value("overflow"), "4321");
    }

    #[test]
    fn defaults_are_the_seeds() {
        let g = GroupSettings::default();
        let v: Vec<String> = [
            "ringParallel",
            "managerTimeout",
            "overflow",
            "showVIPcall",
            "VIPCallsRouting",
            "showCalls",
            "VIPThreshold",
        ]
        .iter()
        .map(|p| g.api_value(p))
        .collect();
        assert_eq!(v, ["0", "0", "-1", "1", "0", "1", "5"]);
    }

    #[test]
    fn every_documented_alternative_spelling_is_accepted() {
        for (v, want) in [
            ("-1", Overflow::None),
            ("-3", Overflow::Busy),
            ("busy", Overflow::Busy),
        ] {
            let g = GroupSettings::default()
                .apply(&params(&[("gr_overflow", v)]))
                .unwrap();
            assert_eq!(g.overflow, want);
        }
        let g = GroupSettings::default()
            .apply(&params(&[("gr_overflow", "voicemail:101")]))
            .unwrap();
        assert_eq!(g.overflow.as_api(), "voicemail:101");
        for (v, want) in [
            ("manager", 0),
            ("all", 1),
            ("marked", 2),
            ("0", 0),
            ("2", 2),
        ] {
            let g = GroupSettings::default()
                .apply(&params(&[("gr_showVIPcall", v)]))
                .unwrap();
            assert_eq!(g.show_vip_call, want);
        }
        let g = GroupSettings::default()
            .apply(&params(&[("gr_VIPThreshold", "9")]))
            .unwrap();
        assert_eq!(g.vip_threshold, 9);
    }

    #[test]
    fn invalid_values_are_refused_naming_the_parameter() {
        for (k, v) in [
            ("gr_ringParallel", "2"),
            ("gr_showCalls", "yes"),
            ("gr_overflow", "voicemail:"),
            ("gr_overflow", "elsewhere"),
            ("gr_showVIPcall", "3"),
            ("gr_VIPCallsRouting", "3"),
            ("gr_VIPThreshold", "-1"),
            ("gr_managerTimeout", "ten"),
            ("gr_number", "55a5"),
        ] {
            let e = GroupSettings::default()
                .apply(&params(&[(k, v)]))
                .unwrap_err();
            assert!(
                matches!(e, ParamError::Invalid { name, .. } if name.eq_ignore_ascii_case(k)),
                "{k}={v}: {e:?}"
            );
        }
        assert_eq!(
            GroupSettings::default()
                .apply(&params(&[("gr_name", " ")]))
                .unwrap_err(),
            ParamError::Missing("gr_name")
        );
    }

    #[test]
    fn members_vips_and_announcements_check_their_parameters() {
        let m = MemberSettings::apply(
            None,
            &params(&[
                ("mb_number", "101"),
                ("gm_type", "1"),
                ("gm_shortName", "Bob"),
            ]),
        )
        .unwrap();
        assert!(m.manager && m.number == "101");
        assert_eq!(
            MemberSettings::apply(None, &params(&[("gm_type", "1")])).unwrap_err(),
            ParamError::Missing("mb_number")
        );
        assert!(MemberSettings::apply(Some(&m), &params(&[("gm_type", "manager")])).is_err());
        let v = VipSettings::apply(
            None,
            &params(&[("vn_number", "0049*"), ("vn_description", "HQ")]),
        )
        .unwrap();
        assert_eq!(v.number, "0049*");
        assert!(VipSettings::apply(None, &params(&[("vn_number", "abc")])).is_err());
        let a = AnnouncementSettings::apply(
            None,
            &params(&[("an_wave", "hello.wav"), ("an_priority", "2")]),
        )
        .unwrap();
        assert_eq!(a.priority, 2);
        assert!(
            AnnouncementSettings::apply(None, &params(&[("an_wave", "../etc/passwd")])).is_err()
        );
    }
}

//! Who an event is about: the business number it arrived for ([`Origin`]), the two ends of a call
//! or the sender of a message ([`Party`], phone number and/or 2026 business-scoped user ids) and the
//! WhatsApp user's contact card ([`Contact`]).

use super::wire;

/// Where a change came from: the WhatsApp Business Account (`entry[].id`) and the business phone
/// number (`value.metadata`). Calls are keyed by call id plus `phone_number_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `entry[].id`: the WhatsApp Business Account id.
    pub waba_id: String,
    /// `metadata.phone_number_id`: the Graph id of the business number (the one to call Graph on).
    pub phone_number_id: String,
    /// `metadata.display_phone_number`: the business number as digits (empty if Meta omitted it).
    pub display_phone_number: String,
}

/// One end of a call, or a message sender: a phone number (`from`/`to`/`recipient_id`) and, since
/// 2026, business-scoped user ids. Users with a username may come with ids only, no number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Party {
    /// The phone number as digits (`from`, `to`, `recipient_id`, `wa_id`), when Meta sent one.
    pub number: Option<String>,
    /// The business-scoped user id (BSUID: `from_user_id`, `to_user_id`, `recipient_user_id`).
    pub user_id: Option<String>,
    /// The parent BSUID (`*_parent_user_id`), shared across a business portfolio.
    pub parent_user_id: Option<String>,
}

impl Party {
    /// The best identifier available: the phone number, else the BSUID.
    pub fn id(&self) -> Option<&str> {
        self.number.as_deref().or(self.user_id.as_deref())
    }

    /// True when Meta sent neither a number nor a user id for this end.
    pub fn is_empty(&self) -> bool {
        self.number.is_none() && self.user_id.is_none() && self.parent_user_id.is_none()
    }

    fn matches(&self, contact: &wire::Contact) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
        same(&self.number, &contact.wa_id) || same(&self.user_id, &contact.user_id)
    }
}

/// The WhatsApp user's contact card from `value.contacts[]` (the business never appears there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Contact {
    /// `wa_id`: the user's WhatsApp number (absent for some username users since 2026).
    pub wa_id: Option<String>,
    /// `user_id`: the user's BSUID (2026).
    pub user_id: Option<String>,
    /// `parent_user_id`: the user's parent BSUID (2026).
    pub parent_user_id: Option<String>,
    /// `profile.name`: the user's profile name.
    pub name: Option<String>,
    /// `profile.username`: the user's WhatsApp username (2026).
    pub username: Option<String>,
}

impl Contact {
    fn from_wire(contact: &wire::Contact) -> Self {
        let profile = contact.profile.as_ref();
        Self {
            wa_id: contact.wa_id.clone(),
            user_id: contact.user_id.clone(),
            parent_user_id: contact.parent_user_id.clone(),
            name: profile.and_then(|p| p.name.clone()),
            username: profile.and_then(|p| p.username.clone()),
        }
    }

    /// Picks the contact card of the user among `parties` (the ends of a call, or a sender): the
    /// first contact whose `wa_id` or `user_id` matches one of them, else the first contact.
    pub(super) fn pick(contacts: &[wire::Contact], parties: &[&Party]) -> Option<Self> {
        contacts
            .iter()
            .find(|c| parties.iter().any(|p| p.matches(c)))
            .or_else(|| contacts.first())
            .map(Self::from_wire)
    }
}

//! Dialogs (RFC 3261 section 12) as UAC and UAS: identifiers, CSeq bookkeeping, the route set
//! taken from Record-Route (kept byte-for-byte: Meta's `wa.meta.vc` and
//! `onevc-sip-proxy.fbinfra.net:8191` entries must survive untouched), the remote target from
//! Contact, building in-dialog requests (ACK for 2xx, BYE, re-INVITE, UPDATE, OPTIONS) and
//! responses, checking requests from the remote party, and CANCEL construction (RFC 3261 9.1).

use rand::Rng;
use rsip::headers::Header;
use rsip::{Method, Request, Response};

use crate::message::{self, MessageError, header_param, raw_header, uri_part};

/// Why a dialog could not be created or a request does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or invalid.
    #[error("cannot use SIP dialog: {0}")]
    Message(#[from] MessageError),
    /// The response has no To tag, so it does not establish a dialog.
    #[error("SIP response has no To tag; the peer did not create a dialog (RFC 3261 12.1.2)")]
    NoRemoteTag,
    /// The response is not 101-299.
    #[error("SIP status {0} does not create a dialog; only 101-299 responses do")]
    NotDialogCreating(u16),
    /// The peer gave no usable Contact, so there is no remote target.
    #[error(
        "SIP peer sent no usable Contact ({0:?}); in-dialog requests (ACK, BYE) cannot be routed"
    )]
    BadContact(String),
    /// The request's Call-ID or tags belong to another dialog.
    #[error("SIP request does not belong to this dialog (Call-ID or tags differ); answer 481")]
    NotThisDialog,
    /// The request's CSeq is not above the last one seen (RFC 3261 12.2.2).
    #[error("SIP request CSeq {got} is not above {last}; answer 500 (out of order)")]
    CSeqOutOfOrder {
        /// CSeq received.
        got: u32,
        /// Highest CSeq seen before.
        last: u32,
    },
}

/// Which side created the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogRole {
    /// We sent the INVITE.
    Uac,
    /// We received the INVITE.
    Uas,
}

/// Dialog state (RFC 3261 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended by BYE (sent or received).
    Terminated,
}

/// What a request from the remote party means to the call (returned by
/// [`Dialog::handle_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteRequest {
    /// BYE: answer 200; the dialog is now terminated.
    Bye,
    /// re-INVITE: answer it (SDP answer) with [`Dialog::response`]; remote target refreshed.
    ReInvite,
    /// UPDATE: answer it (SDP answer) with [`Dialog::response`]; remote target refreshed.
    Update,
    /// ACK for our 2xx.
    Ack,
    /// Anything else (OPTIONS, INFO, NOTIFY...): answer as the method requires.
    Other,
}

/// One SIP dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Who created it.
    pub role: DialogRole,
    /// Current state.
    pub state: DialogState,
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our header value for From in requests we send (with our tag).
    pub local_party: String,
    /// The peer's header value for To in requests we send (with its tag).
    pub remote_party: String,
    /// Last CSeq number we used.
    pub local_cseq: u32,
    /// Highest CSeq number received from the peer.
    pub remote_cseq: Option<u32>,
    /// Route set, in the order Route headers must be sent.
    pub route_set: Vec<String>,
    /// Remote target URI (from the peer's Contact).
    pub remote_target: String,
    /// Our Contact header value.
    pub local_contact: String,
    /// Our Via without branch, e.g. `SIP/2.0/TLS gw.example.com:5061;rport`.
    pub local_via: String,
}

impl Dialog {
    /// The UAC side: `invite` we sent, `response` (101-299 with a To tag) we received.
    /// Route set = Record-Route of the response, reversed (RFC 3261 12.1.2).
    pub fn uac(
        invite: &Request,
        response: &Response,
        local_via: &str,
    ) -> Result<Self, DialogError> {
        let code = response.status_code.code();
        if !(101..300).contains(&code) {
            return Err(DialogError::NotDialogCreating(code));
        }
        let remote_tag = message::to_tag(response).ok_or(DialogError::NoRemoteTag)?;
        let local_party =
            message::header_value(invite, "From").ok_or(MessageError::MissingHeader("From"))?;
        let local_tag =
            header_param(&local_party, "tag").ok_or(MessageError::MissingHeader("From tag"))?;
        let mut route_set = message::record_routes(response);
        route_set.reverse();
        let remote_target = target(message::contact_uri(response))?;
        Ok(Self {
            role: DialogRole::Uac,
            state: if code < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            call_id: message::call_id(invite)?,
            local_tag,
            remote_tag,
            local_party,
            remote_party: message::header_value(response, "To")
                .ok_or(MessageError::MissingHeader("To"))?,
            local_cseq: message::cseq(invite)?.0,
            remote_cseq: None,
            route_set,
            remote_target,
            local_contact: message::header_value(invite, "Contact").unwrap_or_default(),
            local_via: local_via.to_string(),
        })
    }

    /// The UAS side, for an INVITE we received and will answer with `local_tag` and
    /// `local_contact`. Route set = Record-Route of the request, as received (RFC 3261 12.1.1).
    pub fn uas(
        invite: &Request,
        local_tag: &str,
        local_contact: &str,
        local_via: &str,
    ) -> Result<Self, DialogError> {
        let remote_party =
            message::header_value(invite, "From").ok_or(MessageError::MissingHeader("From"))?;
        let remote_tag =
            header_param(&remote_party, "tag").ok_or(MessageError::MissingHeader("From tag"))?;
        let mut local_party =
            message::header_value(invite, "To").ok_or(MessageError::MissingHeader("To"))?;
        if header_param(&local_party, "tag").is_none() {
            local_party = format!("{local_party};tag={local_tag}");
        }
        Ok(Self {
            role: DialogRole::Uas,
            state: DialogState::Early,
            call_id: message::call_id(invite)?,
            local_tag: local_tag.to_string(),
            remote_tag,
            local_party,
            remote_party,
            local_cseq: rand::rng().random_range(1..=0x7fff),
            remote_cseq: Some(message::cseq(invite)?.0),
            route_set: message::record_routes(invite),
            remote_target: target(message::contact_uri(invite))?,
            local_contact: local_contact.to_string(),
            local_via: local_via.to_string(),
        })
    }

    /// A 2xx confirmed the dialog (UAC after an early dialog, or UAS after sending it). For the
    /// UAC the route set and target are recomputed from the 2xx (RFC 3261 12.1.2).
    pub fn confirm(&mut self, response: Option<&Response>) -> Result<(), DialogError> {
        if let (DialogRole::Uac, Some(resp)) = (self.role, response) {
            let mut rr = message::record_routes(resp);
            rr.reverse();
            self.route_set = rr;
            self.remote_target = target(message::contact_uri(resp))?;
        }
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// A target refresh: a 2xx to our re-INVITE/UPDATE carrying a new Contact.
    pub fn refresh_target(&mut self, msg: &impl rsip::message::HasHeaders) {
        if let Some(uri) = message::contact_uri(msg).filter(|u| !u.is_empty()) {
            self.remote_target = uri;
        }
    }

    /// Whether `msg` (request or response) belongs to this dialog (Call-ID and both tags).
    pub fn matches(&self, msg: &impl rsip::message::HasHeaders, incoming_request: bool) -> bool {
        let (from, to) = (message::from_tag(msg), message::to_tag(msg));
        let (local, remote) = if incoming_request {
            (to, from)
        } else {
            (from, to)
        };
        message::call_id(msg).ok().as_deref() == Some(self.call_id.as_str())
            && local.as_deref() == Some(self.local_tag.as_str())
            && remote.as_deref() == Some(self.remote_tag.as_str())
    }

    /// Where to send in-dialog requests: the first route's URI, or the remote target.
    pub fn next_hop(&self) -> String {
        self.route_set
            .first()
            .map(|r| uri_part(r))
            .unwrap_or_else(|| self.remote_target.clone())
    }

    /// Builds a new in-dialog request (BYE, re-INVITE, UPDATE, OPTIONS, INFO...) with the
    /// next local CSeq, the route set and the remote target (RFC 3261 12.2.1.1).
    pub fn new_request(
        &mut self,
        method: Method,
        branch: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Request, DialogError> {
        self.local_cseq += 1;
        let cseq = self.local_cseq;
        if method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        self.build(method, cseq, branch, body)
    }

    /// The ACK for a 2xx to our INVITE with CSeq number `invite_cseq` (RFC 3261 13.2.2.4): a
    /// new branch, same CSeq number, routed like any in-dialog request.
    pub fn ack(
        &self,
        invite_cseq: u32,
        branch: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Request, DialogError> {
        self.build(Method::Ack, invite_cseq, branch, body)
    }

    fn build(
        &self,
        method: Method,
        cseq: u32,
        branch: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Request, DialogError> {
        // Loose routing when the first route has `lr`; strict routing otherwise (12.2.1.1).
        let loose = self.route_set.first().is_none_or(|r| {
            uri_part(r)
                .split(';')
                .skip(1)
                .any(|p| p.eq_ignore_ascii_case("lr") || p.to_ascii_lowercase().starts_with("lr="))
        });
        let (uri, routes): (String, Vec<String>) = if loose {
            (self.remote_target.clone(), self.route_set.clone())
        } else {
            let mut rest: Vec<String> = self.route_set[1..].to_vec();
            rest.push(format!("<{}>", self.remote_target));
            (uri_part(&self.route_set[0]), rest)
        };
        let mut headers: Vec<Header> = vec![raw_header(
            "Via",
            format!("{};branch={branch}", self.local_via),
        )];
        headers.extend(routes.into_iter().map(|r| raw_header("Route", r)));
        headers.push(raw_header("Max-Forwards", "70"));
        headers.push(raw_header("From", self.local_party.clone()));
        headers.push(raw_header("To", self.remote_party.clone()));
        headers.push(raw_header("Call-ID", self.call_id.clone()));
        headers.push(raw_header("CSeq", format!("{cseq} {method}")));
        if matches!(method, Method::Invite | Method::Update) && !self.local_contact.is_empty() {
            headers.push(raw_header("Contact", self.local_contact.clone()));
        }
        let mut req =
            message::build_request(method, message::parse_uri(&uri)?, headers, Vec::new());
        if let Some((ct, b)) = body {
            message::set_body(&mut req, ct, b);
        }
        Ok(req)
    }

    /// Checks a request from the peer (RFC 3261 12.2.2): dialog match, CSeq order; refreshes
    /// the remote target on re-INVITE/UPDATE; terminates on BYE.
    pub fn handle_request(&mut self, req: &Request) -> Result<RemoteRequest, DialogError> {
        if !self.matches(req, true) {
            return Err(DialogError::NotThisDialog);
        }
        let (num, _) = message::cseq(req)?;
        if req.method == Method::Ack {
            return Ok(RemoteRequest::Ack);
        }
        if req.method != Method::Cancel {
            if let Some(last) = self.remote_cseq
                && num <= last
            {
                return Err(DialogError::CSeqOutOfOrder { got: num, last });
            }
            self.remote_cseq = Some(num);
        }
        Ok(match req.method {
            Method::Bye => {
                self.state = DialogState::Terminated;
                RemoteRequest::Bye
            }
            Method::Invite => {
                self.refresh_target(req);
                RemoteRequest::ReInvite
            }
            Method::Update => {
                self.refresh_target(req);
                RemoteRequest::Update
            }
            _ => RemoteRequest::Other,
        })
    }

    /// A response to `request` from the peer (the initial INVITE or an in-dialog request),
    /// with our To tag. Responses 101-299 to INVITE/UPDATE carry our Contact, and to the
    /// initial INVITE the request's Record-Route copied in order (RFC 3261 12.1.1: Meta's
    /// entries stay intact).
    pub fn response(
        &self,
        request: &Request,
        code: u16,
        body: Option<(&str, Vec<u8>)>,
    ) -> Response {
        let mut resp = message::response_to(request, code, None, Some(&self.local_tag));
        let dialog_forming =
            (101..300).contains(&code) && matches!(request.method, Method::Invite | Method::Update);
        if dialog_forming {
            if request.method == Method::Invite {
                for rr in message::record_routes(request) {
                    resp.headers.push(raw_header("Record-Route", rr));
                }
            }
            if !self.local_contact.is_empty() {
                resp.headers
                    .push(raw_header("Contact", self.local_contact.clone()));
            }
        }
        if let Some((ct, b)) = body {
            message::set_body(&mut resp, ct, b);
        }
        resp
    }
}

fn target(contact: Option<String>) -> Result<String, DialogError> {
    let c = contact.unwrap_or_default();
    if c.is_empty() || message::parse_uri(&c).is_err() {
        return Err(DialogError::BadContact(c));
    }
    Ok(c)
}

/// The CANCEL for an INVITE we sent (RFC 3261 9.1): same Request-URI, Call-ID, To, From, CSeq
/// number and top Via (so the same branch), the INVITE's Route headers, method CANCEL.
pub fn cancel_for(invite: &Request) -> Result<Request, DialogError> {
    let via = message::top_via(invite).ok_or(MessageError::MissingHeader("Via"))?;
    let mut headers: Vec<Header> = vec![raw_header("Via", via)];
    headers.extend(
        message::routes(invite)
            .into_iter()
            .map(|r| raw_header("Route", r)),
    );
    headers.push(raw_header("Max-Forwards", "70"));
    headers.push(raw_header(
        "From",
        message::header_value(invite, "From").ok_or(MessageError::MissingHeader("From"))?,
    ));
    headers.push(raw_header(
        "To",
        message::header_value(invite, "To").ok_or(MessageError::MissingHeader("To"))?,
    ));
    headers.push(raw_header("Call-ID", message::call_id(invite)?));
    headers.push(raw_header(
        "CSeq",
        format!("{} CANCEL", message::cseq(invite)?.0),
    ));
    Ok(message::build_request(
        Method::Cancel,
        invite.uri.clone(),
        headers,
        Vec::new(),
    ))
}

#[cfg(test)]
#[path = "dialog_tests.rs"]
mod tests;

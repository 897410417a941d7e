//! Lead scoring: how likely a conversation is to become a sale, from 0 to 100. Points come from
//! the conversation's main intent (a demo request or a purchase most, then pricing), each contact
//! detail the user gave, and engagement (each user message after the first). Every part only
//! grows as the conversation goes on, so the score never goes down, and the message that first
//! brings it to the workspace's threshold qualifies the lead.

use super::contact::Contact;
use hoverbot_api::Intent;

/// The score no conversation exceeds.
pub const MAX_SCORE: i32 = 100;
/// Points for engagement stop growing here (four user messages).
const MAX_ENGAGEMENT: i32 = 15;

/// What a conversation has shown about its user as a lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lead {
    /// The main intent: the one worth most to sales so far (the latest, among equals).
    pub intent: Option<Intent>,
    pub contact: Contact,
    pub user_messages: i32,
}

impl Lead {
    /// The lead after one more user message, with its intent and the contact details in it.
    pub fn after(self, intent: Intent, found: Contact) -> Self {
        let intent = match self.intent {
            Some(main) if points(main) > points(intent) => main,
            _ => intent,
        };
        Self {
            intent: Some(intent),
            contact: self.contact.merge(found),
            user_messages: self.user_messages.saturating_add(1),
        }
    }

    pub fn score(&self) -> i32 {
        let intent = self.intent.map_or(0, points);
        let contact = [
            (self.contact.email.is_some(), 25),
            (self.contact.phone.is_some(), 15),
            (self.contact.name.is_some(), 10),
            (self.contact.company.is_some(), 15),
        ]
        .iter()
        .filter(|(given, _)| *given)
        .map(|(_, points)| points)
        .sum::<i32>();
        let engagement = (self.user_messages.saturating_sub(1) * 5).clamp(0, MAX_ENGAGEMENT);
        (intent + contact + engagement).min(MAX_SCORE)
    }
}

/// What an intent says about buying.
fn points(intent: Intent) -> i32 {
    match intent {
        Intent::DemoRequest | Intent::Purchase => 40,
        Intent::Pricing => 30,
        Intent::Billing | Intent::HumanRequest => 10,
        Intent::Support | Intent::Shipping | Intent::Returns | Intent::Account => 5,
        Intent::Cancellation | Intent::Greeting | Intent::Other => 0,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn said(lead: Lead, text: &str) -> Lead {
        lead.after(
            super::super::intent::classify(text, &crate::embedding::Embedder::default_model()),
            Contact::find(text),
        )
    }

    #[test]
    fn a_demo_request_with_contact_details_qualifies_at_the_default_threshold() {
        let lead = said(
            Lead::default(),
            "Could we book a demo? I'm Jane Doe from Northwind Traders, jane@northwind.example",
        );
        assert_eq!(lead.intent, Some(Intent::DemoRequest));
        assert_eq!(lead.score(), 40 + 25 + 10 + 15);
    }

    #[test]
    fn a_support_question_scores_low() {
        let lead = said(Lead::default(), "Can I change my shipping address?");
        assert_eq!(lead.score(), 5);
    }

    #[test]
    fn a_later_support_question_does_not_replace_a_sales_intent() {
        let lead = said(Lead::default(), "How much is the Pro plan?");
        let lead = said(lead, "And where is my parcel?");
        assert_eq!(lead.intent, Some(Intent::Pricing));
        assert_eq!(lead.score(), 30 + 5);
    }

    fn intent() -> impl Strategy<Value = Intent> {
        proptest::sample::select(Intent::ALL.to_vec())
    }

    fn contact() -> impl Strategy<Value = Contact> {
        let detail = || proptest::option::of("[a-z]{1,8}");
        (detail(), detail(), detail(), detail()).prop_map(|(email, phone, name, company)| Contact {
            email,
            phone,
            name,
            company,
        })
    }

    proptest! {
        #[test]
        fn the_score_stays_in_range_and_never_goes_down(
            messages in proptest::collection::vec((intent(), contact()), 1..12)
        ) {
            let mut lead = Lead::default();
            let mut previous = lead.score();
            for (intent, found) in messages {
                lead = lead.after(intent, found);
                let score = lead.score();
                prop_assert!((0..=MAX_SCORE).contains(&score));
                prop_assert!(score >= previous, "{previous} then {score}");
                previous = score;
            }
        }
    }
}

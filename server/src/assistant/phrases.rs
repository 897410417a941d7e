//! What the assistant says in its own words (when it does not quote the knowledge), in the
//! languages it has them in; any other locale gets English. Quoted answers stay in the language of
//! the page they come from.

/// The assistant's own sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phrase {
    /// Nothing in the knowledge matched.
    NoKnowledge,
    /// Something matched, but not well enough to answer.
    NotSure,
    /// A greeting, answered in kind.
    Greeting,
    /// The conversation is handed to a person.
    Handoff,
}

/// `phrase` in the language of `locale` (a BCP 47 tag such as `de-AT`).
pub fn say(phrase: Phrase, locale: Option<&str>) -> &'static str {
    let language = locale
        .and_then(|locale| locale.split(['-', '_']).next())
        .map(str::to_ascii_lowercase);
    let table = match language.as_deref() {
        Some("de") => &GERMAN,
        Some("fr") => &FRENCH,
        Some("es") => &SPANISH,
        Some("it") => &ITALIAN,
        Some("nl") => &DUTCH,
        Some("pt") => &PORTUGUESE,
        _ => &ENGLISH,
    };
    match phrase {
        Phrase::NoKnowledge => table[0],
        Phrase::NotSure => table[1],
        Phrase::Greeting => table[2],
        Phrase::Handoff => table[3],
    }
}

const ENGLISH: [&str; 4] = [
    "I don't have any information to answer that yet, so I won't guess. Would you like me to connect you with a person from our team?",
    "I'm not sure I have the right answer to that, so I won't guess. Would you like me to connect you with a person from our team?",
    "Hello! How can I help you today?",
    "I'm handing this conversation to a person from our team. They will reply here as soon as they can.",
];
const GERMAN: [&str; 4] = [
    "Dazu habe ich noch keine Informationen, deshalb rate ich lieber nicht. Möchten Sie mit jemandem aus unserem Team sprechen?",
    "Ich bin mir bei der Antwort nicht sicher, deshalb rate ich lieber nicht. Möchten Sie mit jemandem aus unserem Team sprechen?",
    "Hallo! Wie kann ich Ihnen heute helfen?",
    "Ich übergebe dieses Gespräch an jemanden aus unserem Team. Sie erhalten hier so bald wie möglich eine Antwort.",
];
const FRENCH: [&str; 4] = [
    "Je n'ai pas encore d'information pour répondre à cela, je préfère donc ne pas deviner. Voulez-vous parler à une personne de notre équipe ?",
    "Je ne suis pas sûr d'avoir la bonne réponse, je préfère donc ne pas deviner. Voulez-vous parler à une personne de notre équipe ?",
    "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
    "Je transmets cette conversation à une personne de notre équipe. Elle vous répondra ici dès que possible.",
];
const SPANISH: [&str; 4] = [
    "Todavía no tengo información para responder a eso, así que prefiero no adivinar. ¿Quiere hablar con una persona de nuestro equipo?",
    "No estoy seguro de tener la respuesta correcta, así que prefiero no adivinar. ¿Quiere hablar con una persona de nuestro equipo?",
    "¡Hola! ¿En qué puedo ayudarle hoy?",
    "Paso esta conversación a una persona de nuestro equipo. Le responderá aquí lo antes posible.",
];
const ITALIAN: [&str; 4] = [
    "Non ho ancora informazioni per rispondere, quindi preferisco non tirare a indovinare. Vuole parlare con una persona del nostro team?",
    "Non sono sicuro di avere la risposta giusta, quindi preferisco non tirare a indovinare. Vuole parlare con una persona del nostro team?",
    "Ciao! Come posso aiutarla oggi?",
    "Passo questa conversazione a una persona del nostro team. Le risponderà qui il prima possibile.",
];
const DUTCH: [&str; 4] = [
    "Daar heb ik nog geen informatie over, dus ik ga niet gokken. Wilt u iemand van ons team spreken?",
    "Ik weet niet zeker of ik het juiste antwoord heb, dus ik ga niet gokken. Wilt u iemand van ons team spreken?",
    "Hallo! Waarmee kan ik u vandaag helpen?",
    "Ik geef dit gesprek door aan iemand van ons team. U krijgt hier zo snel mogelijk antwoord.",
];
const PORTUGUESE: [&str; 4] = [
    "Ainda não tenho informações para responder a isso, por isso prefiro não adivinhar. Quer falar com uma pessoa da nossa equipa?",
    "Não tenho a certeza de ter a resposta certa, por isso prefiro não adivinhar. Quer falar com uma pessoa da nossa equipa?",
    "Olá! Como posso ajudar hoje?",
    "Vou passar esta conversa a uma pessoa da nossa equipa. Vai responder aqui assim que possível.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_of_the_locale_else_english() {
        assert!(say(Phrase::Handoff, Some("de-AT")).starts_with("Ich übergebe"));
        assert!(say(Phrase::Greeting, Some("FR")).starts_with("Bonjour"));
        assert!(say(Phrase::NotSure, Some("ja-JP")).starts_with("I'm not sure"));
        assert!(say(Phrase::NoKnowledge, None).starts_with("I don't have"));
    }
}

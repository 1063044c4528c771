import Foundation

/// A deterministic English → Italian toy corpus, shipped with the trainer so that the translation
/// path can be trained and tested without downloading anything.
///
/// Sentences come from a small grammar with what makes translation more than word substitution:
/// adjectives move after the noun, articles, adjectives and verbs agree in gender and number
/// ("the red cat" → "il gatto rosso", "the red houses" → "le case rosse"), articles change before
/// vowels ("the tree" → "l'albero", "the trees" → "gli alberi"), prepositions fuse with articles
/// ("on the table" → "sulla tavola", "in the trees" → "negli alberi"), and negation moves
/// ("does not see" → "non vede"). About 110 English and 160 Italian word forms.
public enum ToyTranslation {
    struct Noun {
        let english: String, englishPlural: String
        let singular: String, plural: String
        let feminine: Bool
        /// Starts with a vowel: l' / gli.
        var vowel: Bool { "aeiou".contains(singular.first!) }
    }

    struct Adjective {
        let english: String
        /// masculine singular, feminine singular, masculine plural, feminine plural
        let forms: [String]
    }

    struct Verb {
        let english: String, englishPlural: String
        let singular: String, plural: String
        let transitive: Bool
    }

    static let nouns: [Noun] = [
        Noun(english: "cat", englishPlural: "cats", singular: "gatto", plural: "gatti", feminine: false),
        Noun(english: "dog", englishPlural: "dogs", singular: "cane", plural: "cani", feminine: false),
        Noun(english: "boy", englishPlural: "boys", singular: "ragazzo", plural: "ragazzi", feminine: false),
        Noun(english: "book", englishPlural: "books", singular: "libro", plural: "libri", feminine: false),
        Noun(english: "fish", englishPlural: "fish", singular: "pesce", plural: "pesci", feminine: false),
        Noun(english: "horse", englishPlural: "horses", singular: "cavallo", plural: "cavalli", feminine: false),
        Noun(english: "bird", englishPlural: "birds", singular: "uccello", plural: "uccelli", feminine: false),
        Noun(english: "tree", englishPlural: "trees", singular: "albero", plural: "alberi", feminine: false),
        Noun(english: "friend", englishPlural: "friends", singular: "amico", plural: "amici", feminine: false),
        Noun(english: "train", englishPlural: "trains", singular: "treno", plural: "treni", feminine: false),
        Noun(english: "flower", englishPlural: "flowers", singular: "fiore", plural: "fiori", feminine: false),
        Noun(english: "garden", englishPlural: "gardens", singular: "giardino", plural: "giardini", feminine: false),
        Noun(english: "house", englishPlural: "houses", singular: "casa", plural: "case", feminine: true),
        Noun(english: "girl", englishPlural: "girls", singular: "ragazza", plural: "ragazze", feminine: true),
        Noun(english: "apple", englishPlural: "apples", singular: "mela", plural: "mele", feminine: true),
        Noun(english: "car", englishPlural: "cars", singular: "macchina", plural: "macchine", feminine: true),
        Noun(english: "window", englishPlural: "windows", singular: "finestra", plural: "finestre", feminine: true),
        Noun(english: "street", englishPlural: "streets", singular: "strada", plural: "strade", feminine: true),
        Noun(english: "woman", englishPlural: "women", singular: "donna", plural: "donne", feminine: true),
        Noun(english: "letter", englishPlural: "letters", singular: "lettera", plural: "lettere", feminine: true),
        Noun(english: "cow", englishPlural: "cows", singular: "mucca", plural: "mucche", feminine: true),
        Noun(english: "chair", englishPlural: "chairs", singular: "sedia", plural: "sedie", feminine: true),
        Noun(english: "table", englishPlural: "tables", singular: "tavola", plural: "tavole", feminine: true),
        Noun(english: "island", englishPlural: "islands", singular: "isola", plural: "isole", feminine: true),
    ]

    static let adjectives: [Adjective] = [
        Adjective(english: "red", forms: ["rosso", "rossa", "rossi", "rosse"]),
        Adjective(english: "big", forms: ["grande", "grande", "grandi", "grandi"]),
        Adjective(english: "small", forms: ["piccolo", "piccola", "piccoli", "piccole"]),
        Adjective(english: "old", forms: ["vecchio", "vecchia", "vecchi", "vecchie"]),
        Adjective(english: "new", forms: ["nuovo", "nuova", "nuovi", "nuove"]),
        Adjective(english: "black", forms: ["nero", "nera", "neri", "nere"]),
        Adjective(english: "white", forms: ["bianco", "bianca", "bianchi", "bianche"]),
        Adjective(english: "happy", forms: ["felice", "felice", "felici", "felici"]),
        Adjective(english: "green", forms: ["verde", "verde", "verdi", "verdi"]),
        Adjective(english: "yellow", forms: ["giallo", "gialla", "gialli", "gialle"]),
        Adjective(english: "beautiful", forms: ["bello", "bella", "belli", "belle"]),
        Adjective(english: "tired", forms: ["stanco", "stanca", "stanchi", "stanche"]),
    ]

    static let verbs: [Verb] = [
        Verb(english: "sees", englishPlural: "see", singular: "vede", plural: "vedono", transitive: true),
        Verb(english: "eats", englishPlural: "eat", singular: "mangia", plural: "mangiano", transitive: true),
        Verb(english: "loves", englishPlural: "love", singular: "ama", plural: "amano", transitive: true),
        Verb(english: "wants", englishPlural: "want", singular: "vuole", plural: "vogliono", transitive: true),
        Verb(english: "has", englishPlural: "have", singular: "ha", plural: "hanno", transitive: true),
        Verb(english: "finds", englishPlural: "find", singular: "trova", plural: "trovano", transitive: true),
        Verb(english: "takes", englishPlural: "take", singular: "prende", plural: "prendono", transitive: true),
        Verb(english: "watches", englishPlural: "watch", singular: "guarda", plural: "guardano", transitive: true),
        Verb(english: "follows", englishPlural: "follow", singular: "segue", plural: "seguono", transitive: true),
        Verb(english: "calls", englishPlural: "call", singular: "chiama", plural: "chiamano", transitive: true),
        Verb(english: "sleeps", englishPlural: "sleep", singular: "dorme", plural: "dormono", transitive: false),
        Verb(english: "runs", englishPlural: "run", singular: "corre", plural: "corrono", transitive: false),
        Verb(english: "sings", englishPlural: "sing", singular: "canta", plural: "cantano", transitive: false),
        Verb(english: "waits", englishPlural: "wait", singular: "aspetta", plural: "aspettano", transitive: false),
    ]

    static let numbers = [("two", "due"), ("three", "tre"), ("four", "quattro"), ("five", "cinque"), ("six", "sei"),
                          ("seven", "sette"), ("eight", "otto"), ("nine", "nove"), ("ten", "dieci")]

    /// (English, Italian preposition stem): fused with the definite article in Italian.
    static let places = [("in", "ne"), ("on", "su")]

    /// The Italian definite article for a noun.
    static func article(_ noun: Noun, plural: Bool) -> String {
        switch (noun.feminine, plural, noun.vowel) {
        case (false, false, false): return "il"
        case (false, false, true): return "l'"
        case (false, true, false): return "i"
        case (false, true, true): return "gli"
        case (true, false, false): return "la"
        case (true, false, true): return "l'"
        case (true, true, _): return "le"
        }
    }

    /// "ne" + "il" → "nel", "su" + "gli" → "sugli", ... (Italian articulated prepositions).
    static func fused(_ stem: String, _ article: String) -> String {
        switch article {
        case "il": return stem + "l"
        case "l'": return stem + "ll'"
        case "i": return stem + "i"
        case "gli": return stem + "gli"
        case "la": return stem + "lla"
        default: return stem + "lle"  // le
        }
    }

    /// Joins Italian words, attaching the apostrophe of l' / nell' to the next word.
    static func join(_ words: [String]) -> String {
        var text = ""
        for word in words {
            if !text.isEmpty && !text.hasSuffix("'") && word != "." { text += " " }
            text += word
        }
        return text
    }

    /// A noun phrase: (English words, Italian words, plural).
    static func nounPhrase(_ random: inout SplitMix, allowNumber: Bool) -> ([String], [String], Bool) {
        let noun = nouns[Int(random.next() % UInt64(nouns.count))]
        let choice = random.next() % 10
        let adjective = random.next() % 3 == 0 ? nil : adjectives[Int(random.next() % UInt64(adjectives.count))]
        let form = noun.feminine ? 1 : 0
        if allowNumber && choice < 2 {
            let (english, italian) = numbers[Int(random.next() % UInt64(numbers.count))]
            let a = adjective.map { [$0.english] } ?? []
            let i = adjective.map { [$0.forms[(noun.feminine ? 1 : 0) + 2]] } ?? []
            return ([english] + a + [noun.englishPlural], [italian, noun.plural] + i, true)
        }
        let plural = choice >= 7
        let a = adjective.map { [$0.english] } ?? []
        let i = adjective.map { [$0.forms[form + (plural ? 2 : 0)]] } ?? []
        return (["the"] + a + [plural ? noun.englishPlural : noun.english],
                [article(noun, plural: plural), plural ? noun.plural : noun.singular] + i, plural)
    }

    /// One sentence pair (English, Italian).
    static func sentence(_ random: inout SplitMix) -> (String, String) {
        let (subjectEnglish, subjectItalian, plural) = nounPhrase(&random, allowNumber: true)
        let verb = verbs[Int(random.next() % UInt64(verbs.count))]
        let negated = random.next() % 5 == 0
        var english = subjectEnglish, italian = subjectItalian
        if negated {
            english += [plural ? "do" : "does", "not", verb.englishPlural]
            italian += ["non", plural ? verb.plural : verb.singular]
        } else {
            english.append(plural ? verb.englishPlural : verb.english)
            italian.append(plural ? verb.plural : verb.singular)
        }
        if verb.transitive {
            let (objectEnglish, objectItalian, _) = nounPhrase(&random, allowNumber: true)
            english += objectEnglish
            italian += objectItalian
        }
        if random.next() % 3 == 0 {
            let (preposition, stem) = places[Int(random.next() % UInt64(places.count))]
            let noun = nouns[Int(random.next() % UInt64(nouns.count))]
            let placePlural = random.next() % 4 == 0
            english += [preposition, "the", placePlural ? noun.englishPlural : noun.english]
            italian += [fused(stem, article(noun, plural: placePlural)), placePlural ? noun.plural : noun.singular]
        }
        english.append(".")
        italian.append(".")
        var first = english.joined(separator: " ").replacingOccurrences(of: " .", with: ".")
        first = first.prefix(1).uppercased() + first.dropFirst()
        var second = join(italian)
        second = second.prefix(1).uppercased() + second.dropFirst()
        return (first, second)
    }

    /// `count` distinct sentence pairs from `seed`, as "English<TAB>Italian" lines (the Tatoeba
    /// format). Duplicates are skipped, so no validation sentence also appears in training.
    public static func corpus(count: Int, seed: UInt64 = 2024) -> [String] {
        var random = SplitMix(seed: seed)
        var seen = Set<String>(), lines: [String] = []
        while lines.count < count {
            let (english, italian) = sentence(&random)
            let line = english + "\t" + italian
            if seen.insert(line).inserted { lines.append(line) }
        }
        return lines
    }
}

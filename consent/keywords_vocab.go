package consent

// The vocabulary of the natural-language opt-out grammar (keywords_intent.go).
// A phrase may have several roles; entries are normalised when the package
// loads, so write them naturally. The opt-out keywords of the Classifier are
// verbs too and are not repeated here.
//
// Adding a word widens what counts as an opt-out: add only words that cannot
// turn a sentence about something else into a request to stop. Nouns of
// things one buys (order, item, sale) must never be tail words.
var intentWords = []struct {
	role  intentRole
	words []string
}{
	{roleLead, []string{
		"please", "pls", "plz", "plez", "plse", "pleas", "plss", "kindly", "just", "ok", "okay", "k",
		"hi", "hello", "hey", "hiya", "dear", "sir", "madam", "sorry", "yes", "yeah", "yep", "so", "now",
		"oh", "omg", "ugh", "seriously", "honestly", "guys", "i", "we",
		"can you", "could you", "would you", "will you", "can u", "could u", "would u", "will u",
		"i want", "i want to", "want to", "i wanna", "wanna", "i would like to", "i would like",
		"id like to", "i wish to", "i need to", "need to", "i want you to", "i would like you to",
		"we want to", "let me", "thanks", "thank you", "no thanks", "no thank you",
		// es, pt
		"por favor", "porfa", "porfavor", "hola", "quiero", "quisiera", "deseo", "necesito",
		"favor de", "yo", "olá", "ola", "oi", "quero", "gostaria de", "eu", "preciso", "pf", "pfv",
		// fr
		"bonjour", "salut", "svp", "stp", "merci de", "je veux", "je voudrais", "je souhaite", "je",
		"veuillez", "pouvez vous", "pourriez vous", "merci de bien vouloir",
		// de, it
		"bitte", "hallo", "ich möchte", "ich will", "ich", "per favore", "ciao", "salve", "voglio",
		"vorrei", "io",
		// id, ms
		"tolong", "mohon", "sila", "saya", "aku", "mau", "ingin", "nak", "mahu", "minta", "halo", "hai",
		// vi
		"làm ơn", "vui lòng", "xin", "tôi", "em", "mình", "muốn", "cho", "chào", "anh", "chị",
		// tl
		"paki", "pakiusap", "pwede",
		// ar, hi
		"من فضلك", "لو سمحت", "أريد", "اريد", "أرجو", "ارجو", "رجاء", "कृपया",
		// th, zh
		"กรุณา", "ขอ", "โปรด", "请", "請", "我要", "我想", "帮我", "幫我", "麻烦", "麻煩", "你好",
		// ru
		"пожалуйста", "прошу", "хочу", "я хочу", "здравствуйте", "привет", "добрый день",
		// tr, hi: these languages put the verb last, so the object comes
		// first (bana mesaj göndermeyin, मुझे मैसेज मत भेजो); the object
		// words are leads.
		"lütfen", "lutfen", "merhaba", "bana", "beni", "artık", "bir daha", "mesaj", "sms",
		"मुझे", "अब", "मैसेज", "संदेश", "नमस्ते",
	}},
	{roleLead | roleRequest, []string{
		"please", "pls", "plz", "kindly", "can you", "could you", "would you", "will you", "can u",
		"could u", "would u", "will u", "por favor", "puedes", "pueden", "podrías", "podrias",
		"pode", "podem", "svp", "pouvez vous", "pourriez vous", "bitte", "per favore", "tolong",
		"bisa", "boleh", "làm ơn", "vui lòng", "请", "請", "กรุณา", "пожалуйста", "прошу",
		"lütfen", "lutfen", "कृपया",
		// please in te, ta, bn, gu, kn, ml, pa, ur
		"దయచేసి", "தயவுசெய்து", "দয়া করে", "કૃપા કરીને", "ದಯವಿಟ್ಟು", "ദയവായി", "ਕਿਰਪਾ ਕਰਕੇ",
		"براہ کرم", "مہربانی",
	}},
	{roleGreeting, []string{
		"hi", "hello", "hey", "dear", "hola", "olá", "ola", "oi", "bonjour", "salut", "hallo", "ciao",
		"halo", "hai", "chào", "xin chào", "здравствуйте", "привет", "merhaba", "नमस्ते",
	}},
	{roleInterjection, []string{
		"no", "nope", "nah", "não", "nao", "non", "nein", "tidak", "tak", "ga", "gak", "enggak",
		"nggak", "không", "khong", "hindi", "لا", "ไม่", "不", "нет", "hayır", "नहीं",
	}},
	{roleVerb, []string{
		"unsuscribe", "unsubcribe", "unsubscibe", "unsubsribe", "opt me out", "count me out",
		"take me off", "take off", "get me off", "leave me alone", "delete", "wrong number",
		"wrong person", "be removed", "be taken off", "be unsubscribed", "be deleted", "enough",
		// es
		"me doy de baja", "dame de baja", "denme de baja", "dejen de", "deja de", "dejar de",
		"paren", "detengan", "elimíname", "eliminame", "bórrame", "borrame", "sácame", "sacame",
		// pt
		"me descadastre", "me descadastra", "descadastra", "me tire", "me tira", "me remova",
		"me remove", "parem", "para de", "parem de",
		// fr
		"me désabonner", "vous désabonner", "se désabonner", "désabonnez", "désabonne",
		"me désinscrire", "désinscrivez", "retirez", "supprimez", "cessez",
		// de
		"mich abmelden", "mich abzumelden", "hör auf", "hört auf", "hören sie auf", "aufhören",
		// it
		"smettetela", "smettete", "smettila", "smetti", "toglimi",
		// id, ms
		"hentikan", "berhentikan", "keluarkan saya", "hapus",
		// vi
		"xóa", "xoá",
		// tl
		"tanggalin", "alisin",
		// ar
		"توقفوا", "أوقفوا", "اوقفوا",
		// ru: unsubscribe (me), remove, delete, cease, stop doing, enough
		"отпишите", "отписать", "уберите", "удалите", "прекратите", "перестаньте", "хватит",
		// tr: remove me from the list, cancel my subscription, and the
		// negative imperatives of send, write, call, disturb (the negation
		// is a suffix)
		"listeden çıkarın", "listeden çıkar", "aboneliğimi iptal edin", "aboneliğimi iptal et",
		"üyeliğimi iptal edin", "göndermeyin", "göndermeyiniz", "atmayın", "yazmayın",
		"aramayın", "rahatsız etmeyin",
		// hi: stop sending
		"भेजना बंद करो", "भेजना बंद करें", "भेजना बंद कीजिए",
	}},
	{roleNeg, []string{
		"dont", "do not", "never", "no longer", "no",
		"nunca", "não", "nao", "ne", "non", "jangan", "jgn", "tidak", "tak", "ga", "gak",
		"đừng", "không", "huwag", "wag", "لا", "ya no", "nicht", "nicht mehr", "nie", "nie mehr",
		"nie wieder", "не", "больше не", "никогда не",
	}},
	{roleNegFiller, []string{
		"me", "us", "ever", "mi", "nos", "plus", "lagi", "mo", "nyo", "na", "ako", "akong", "mir",
		"uns", "мне", "нам",
	}},
	{roleSend, []string{
		"send", "message", "msg", "text", "txt", "contact", "call", "email", "spam", "bother",
		"disturb", "whatsapp", "sms", "ping", "dm", "write",
		// es
		"envíen", "envien", "envíes", "envies", "envíe", "envie", "enviar", "manden", "mandes",
		"mande", "mandar", "escriban", "escribas", "escriba", "contacten", "molesten", "llamen",
		// pt
		"mandem", "manda", "enviem", "escreva", "escrevam", "ligue", "liguem", "perturbe",
		"incomode",
		// fr
		"menvoyez", "menvoie", "menvoyer", "envoyez", "envoyer", "écrivez", "mécrivez",
		"contactez", "appelez", "mappelez", "dérangez",
		// it
		"mandate", "mandatemi", "inviate", "inviatemi", "scrivete", "scrivetemi", "contattatemi",
		// id, ms
		"kirim", "kirimi", "kirimkan", "hantar", "ganggu", "hubungi", "telepon", "telefon", "mesej",
		// vi
		"gửi", "nhắn", "gọi", "nhận", "làm phiền",
		// tl
		"itext", "i text", "mag text", "magtext", "padalhan",
		// ar
		"ترسل", "ترسلوا", "ترسلي", "تراسلني", "تراسلوني", "تزعجني",
		// de
		"schreiben", "schicken", "senden", "zusenden", "kontaktieren", "anrufen", "stören",
		"belästigen",
		// ru
		"пишите", "писать", "присылайте", "присылать", "отправляйте", "отправлять", "шлите",
		"звоните", "беспокойте", "спамьте",
	}},
	{roleWant, []string{
		"want", "need", "wanna", "wish",
		"quiero", "necesito", "deseo", "quero", "preciso", "desejo", "veux", "souhaite", "voglio",
		"mau", "ingin", "mahu", "nak", "perlu", "butuh", "muốn", "cần", "أريد", "اريد", "أرغب", "ارغب",
		"хочу",
	}},
	{roleNoMore, []string{
		"no more", "no mas", "no más", "não mais", "nao mais", "enough is enough",
	}},
	{roleNegNoun, []string{
		"no", "keine", "kein", "plus de", "pas de", "nada de", "chega de", "никаких",
	}},
	{roleNoun, []string{
		"messages", "message", "msgs", "msg", "texts", "text", "txts", "txt", "sms", "smss",
		"whatsapps", "whatsapp", "spam", "spams", "promotions", "promotion", "promos", "promo", "ads",
		"ad", "adverts", "advertising", "advertisements", "marketing", "offers", "deals",
		"newsletters", "newsletter", "notifications", "notification", "updates", "broadcasts",
		"broadcast", "emails", "calls", "reminders", "alerts", "campaigns", "blasts", "junk", "stuff",
		"things",
		// es, pt
		"mensajes", "mensaje", "promociones", "promoción", "publicidad", "ofertas", "notificaciones",
		"anuncios", "correos", "llamadas", "mensagens", "mensagem", "promoções", "promocoes",
		"propaganda", "propagandas", "notificações", "notificacoes", "anúncios",
		// fr
		"pub", "pubs", "publicité", "publicités", "offres", "appels", "courriels",
		// de, it
		"nachrichten", "werbung", "angebote", "mitteilungen", "messaggi", "pubblicità", "promozioni",
		"offerte", "notifiche",
		// id, ms
		"pesan", "mesej", "promosi", "iklan", "notifikasi", "chat", "wa",
		// vi
		"tin nhắn", "tin", "quảng cáo", "khuyến mãi", "khuyến mại", "thông báo",
		// tl, ar, hi
		"mensahe", "رسائل", "الرسائل", "رسالة", "الرسالة", "إعلانات", "اعلانات", "العروض", "عروض",
		"मैसेज", "संदेश",
		// ru, tr
		"сообщения", "сообщений", "сообщение", "смс", "рассылка", "рассылку", "рассылки",
		"реклама", "рекламу", "рекламы", "спам", "уведомления", "уведомлений", "mesaj",
		"mesajlar", "reklam",
	}},
	{roleTail, []string{
		"me", "us", "my", "our", "mine", "it", "this", "that", "these", "those", "them", "all", "any",
		"anymore", "any more", "more", "again", "ever", "the", "your", "ur", "yr", "you", "u", "from",
		"off", "out", "of", "to", "and", "now", "right now", "please", "pls", "plz", "plez", "plse",
		"pleas", "plss", "thanks", "thank you", "thanks a lot", "thx", "thnx", "tks", "ty", "tnx",
		"asap", "immediately", "already", "forever", "permanently", "for good", "at once", "at all",
		"completely", "totally", "just", "ok", "okay", "sir", "madam", "maam", "mam", "guys", "bye",
		"list", "lists", "mailing list", "subscription", "subscriptions", "number", "contact",
		"contacts", "details", "data", "info", "everything", "every", "anything", "sending",
		"texting", "messaging", "spamming", "contacting", "calling", "emailing", "bothering",
		"receiving", "getting", "send", "receive", "get",
		"fucking", "fuckin", "freaking", "damn", "bloody", "crap", "shit", "bs", "stupid", "annoying",
		"garbage", "scam", "scammers", "spammers",
		// es
		"mi", "mis", "de", "del", "la", "las", "lo", "los", "el", "a", "su", "sus", "esta", "este",
		"estas", "estos", "esto", "lista", "más", "mas", "ya", "por favor", "porfa", "porfavor",
		"favor", "gracias", "muchas gracias", "ahora", "suscripción", "suscripcion", "enviar",
		"enviarme", "mandar", "mandarme", "recibir", "todo", "todos", "todas", "número", "numero",
		// pt
		"da", "do", "das", "dos", "o", "as", "os", "minha", "meu", "meus", "minhas", "essa", "esse",
		"essas", "esses", "isso", "mais", "pf", "pfv", "obrigado", "obrigada", "agora", "já", "ja",
		"receber", "inscrição", "inscricao", "assinatura",
		// fr
		"moi", "mes", "des", "du", "le", "les", "liste", "plus", "merci", "merci beaucoup", "svp",
		"stp", "sil vous plaît", "sil vous plait", "sil te plaît", "sil te plait", "maintenant",
		"abonnement", "numéro", "tous", "toutes", "tout", "ces", "vos", "votre", "immédiatement",
		"menvoyer", "envoyer", "mécrire",
		// de
		"bitte", "danke", "mehr", "mich", "mir", "von", "der", "die", "das", "alle", "sofort",
		"jetzt", "endlich", "meine", "nummer", "zu", "schreiben", "schicken", "erhalten",
		"bekommen", "empfangen", "senden", "zusenden", "kontaktieren",
		// it
		"per favore", "grazie", "più", "piu", "mio", "dalla", "dalle", "tutti", "tutto", "ora",
		"subito", "questi", "queste", "di", "scrivermi", "mandarmi", "inviarmi", "contattarmi",
		"iscrizione", "liscrizione",
		// id, ms
		"saja", "aja", "je", "lagi", "saya", "aku", "ke", "kepada", "dari", "daftar", "ini", "itu",
		"semua", "sekarang", "terima kasih", "makasih", "trima kasih", "terimakasih", "tq", "kirim",
		"hantar", "terima", "langganan", "berlangganan", "nombor", "nomor", "dong", "deh", "sih",
		"tolong", "mohon", "sila",
		// vi
		"ạ", "nhé", "nha", "nhe", "đi", "giúp", "giùm", "dùm", "hộ", "em", "tôi", "mình", "anh",
		"chị", "cho", "lại", "nữa", "cảm ơn", "cám ơn", "gửi", "nhắn", "nhận", "ngay", "luôn",
		"tất cả", "số", "đăng ký", "dịch vụ", "của", "với",
		// tl
		"na", "po", "salamat", "ko", "ako", "sa", "akin", "lahat", "mga", "ng", "mo", "nyo", "ninyo",
		// ar
		"من فضلك", "لو سمحت", "شكرا", "الآن", "الان", "الاشتراك", "كل", "جميع", "رقمي", "لي",
		"ارجوك", "أرجوك", "عن", "إرسال", "ارسال",
		// ru
		"меня", "мне", "нам", "нас", "пожалуйста", "больше", "спасибо", "от", "из", "вашей",
		"вашего", "ваших", "ваши", "вас", "все", "всё", "сейчас", "уже", "никогда", "навсегда",
		"писать", "присылать", "отправлять", "получать", "номер", "мой", "мою", "списка",
		"базы",
		// tr
		"istiyorum", "lütfen", "lutfen", "teşekkürler", "teşekkür ederim", "artık", "beni",
		"bana", "hemen",
		// hi, th, zh
		"धन्यवाद", "जी", "कृपया", "अब",
		"దయచేసి", "தயவுசெய்து", "দয়া করে", "કૃપા કરીને", "ದಯವಿಟ್ಟು", "ദയവായി", "ਕਿਰਪਾ ਕਰਕੇ",
		"براہ کرم", "مہربانی", "ครับ", "ค่ะ", "คะ", "คับ", "นะ", "นะคะ", "นะครับ", "จ้า", "จ้ะ", "ด้วย",
		"ขอบคุณ", "谢谢", "謝謝", "了", "吧", "啊", "呀", "哦",
	}},
}

// affixPrefixes and affixSuffixes are the politeness words of scripts
// written without spaces, which the affix rule removes around an opt-out
// word: 请退订, 我要退订谢谢, ขอยกเลิกค่ะ. Never a question particle (吗,
// ไหม): "退订吗" asks, it does not request.
var (
	affixPrefixes = []string{
		"请", "請", "我要", "我想", "帮我", "幫我", "麻烦你", "麻烦", "麻煩", "要",
		"กรุณา", "ขอ", "โปรด",
	}
	affixSuffixes = []string{
		"谢谢", "謝謝", "了", "吧", "啊", "呀", "哦",
		"ครับผม", "ครับ", "ค่ะ", "คะ", "คับ", "นะ", "จ้า", "จ้ะ", "ด้วย", "เลย", "หน่อย", "ขอบคุณ",
	}
)

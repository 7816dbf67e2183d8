package consent

import (
	"slices"
	"strings"
)

// Replies are the texts sent back to a customer in one language. {brand} stands for the
// configured brand.
type Replies struct {
	OptOut string // the one confirmation of an opt-out
	OptIn  string // the confirmation of an opt-in
	Help   string // the answer to HELP
}

// ReplyWords are the words a language's default replies ask a customer to send. They are
// kept next to the texts so that a test can check that each is in the texts and that the
// classifier knows it: a language cannot ship replies that ask for a word Crier ignores.
type ReplyWords struct {
	// OptOut is the opt-out keyword the texts name, as written in them: STOP.
	OptOut string
	// OptIn is the opt-in keyword the texts name, as written in them: START.
	OptIn string
	// Unsubscribe is the phrase of the OptIn text that says what OptOut does, as written in
	// it ("unsubscribe", "darte de baja", "отписаться"); people reply with it too.
	Unsubscribe string
	// LocalOptIn are the language's own words for OptIn, which its speakers send instead
	// (EMPEZAR, 开始); each must be an opt-in keyword.
	LocalOptIn []string
}

// defaultReply is one language's default texts and the words they ask for.
type defaultReply struct {
	texts Replies
	words ReplyWords
}

// stopStart returns the ReplyWords of texts that name STOP and START.
func stopStart(unsubscribe string, localOptIn ...string) ReplyWords {
	return ReplyWords{OptOut: "STOP", OptIn: "START", Unsubscribe: unsubscribe, LocalOptIn: localOptIn}
}

// defaultReplies follow DESIGN §4, one per language Crier has a default footer for. START
// and STOP stay in Latin letters: the classifier knows them in every language.
var defaultReplies = map[string]defaultReply{
	"en": {Replies{
		OptOut: "You won't get more messages from {brand}. Reply START to resubscribe.",
		OptIn:  "You're subscribed to messages from {brand} again. Reply STOP to unsubscribe.",
		Help:   "{brand}: reply STOP to unsubscribe or START to subscribe again.",
	}, stopStart("unsubscribe", "SUBSCRIBE", "RESUBSCRIBE")},
	"es": {Replies{
		OptOut: "Ya no recibirás más mensajes de {brand}. Responde START para volver a suscribirte.",
		OptIn:  "Vuelves a estar suscrito a los mensajes de {brand}. Responde STOP para darte de baja.",
		Help:   "{brand}: responde STOP para darte de baja o START para volver a suscribirte.",
	}, stopStart("darte de baja", "EMPEZAR", "COMENZAR", "ALTA", "SUSCRIBIRME")},
	"pt": {Replies{
		OptOut: "Você não receberá mais mensagens de {brand}. Responda START para se inscrever novamente.",
		OptIn:  "Você voltou a receber mensagens de {brand}. Responda STOP para cancelar.",
		Help:   "{brand}: responda STOP para cancelar ou START para se inscrever novamente.",
	}, stopStart("cancelar", "COMEÇAR", "INICIAR", "INSCREVER")},
	"fr": {Replies{
		OptOut: "Vous ne recevrez plus de messages de {brand}. Répondez START pour vous réabonner.",
		OptIn:  "Vous êtes de nouveau abonné aux messages de {brand}. Répondez STOP pour vous désabonner.",
		Help:   "{brand} : répondez STOP pour vous désabonner ou START pour vous réabonner.",
	}, stopStart("vous désabonner", "DÉMARRER", "COMMENCER", "RÉABONNER")},
	"de": {Replies{
		OptOut: "Sie erhalten keine Nachrichten mehr von {brand}. Antworten Sie START, um sie wieder zu erhalten.",
		OptIn:  "Sie erhalten wieder Nachrichten von {brand}. Antworten Sie STOP, um sich abzumelden.",
		Help:   "{brand}: Antworten Sie STOP zum Abmelden oder START zum erneuten Anmelden.",
	}, stopStart("sich abzumelden", "STARTEN", "ANMELDEN")},
	"it": {Replies{
		OptOut: "Non riceverai più messaggi da {brand}. Rispondi START per iscriverti di nuovo.",
		OptIn:  "Sei di nuovo iscritto ai messaggi di {brand}. Rispondi STOP per annullare l'iscrizione.",
		Help:   "{brand}: rispondi STOP per annullare l'iscrizione o START per iscriverti di nuovo.",
	}, stopStart("annullare l'iscrizione", "INIZIA", "ISCRIVIMI")},
	"id": {Replies{
		OptOut: "Anda tidak akan menerima pesan lagi dari {brand}. Balas START untuk berlangganan kembali.",
		OptIn:  "Anda kembali berlangganan pesan dari {brand}. Balas STOP untuk berhenti.",
		Help:   "{brand}: balas STOP untuk berhenti atau START untuk berlangganan kembali.",
	}, stopStart("berhenti", "MULAI", "BERLANGGANAN")},
	"ms": {Replies{
		OptOut: "Anda tidak akan menerima mesej lagi daripada {brand}. Balas START untuk melanggan semula.",
		OptIn:  "Anda melanggan mesej daripada {brand} semula. Balas STOP untuk berhenti.",
		Help:   "{brand}: balas STOP untuk berhenti atau START untuk melanggan semula.",
	}, stopStart("berhenti", "MULA", "LANGGAN")},
	"zh": {Replies{
		OptOut: "您将不会再收到{brand}的消息。回复 START 可重新订阅。",
		OptIn:  "您已重新订阅{brand}的消息。回复 STOP 可退订。",
		Help:   "{brand}：回复 STOP 退订，回复 START 重新订阅。",
	}, stopStart("退订", "开始", "重新订阅")},
	"zh-Hant": {Replies{
		OptOut: "您將不會再收到{brand}的訊息。回覆 START 可重新訂閱。",
		OptIn:  "您已重新訂閱{brand}的訊息。回覆 STOP 可取消訂閱。",
		Help:   "{brand}：回覆 STOP 取消訂閱，回覆 START 重新訂閱。",
	}, stopStart("取消訂閱", "開始", "重新訂閱")},
	"vi": {Replies{
		OptOut: "Bạn sẽ không nhận thêm tin nhắn từ {brand}. Trả lời START để đăng ký lại.",
		OptIn:  "Bạn đã đăng ký lại tin nhắn từ {brand}. Trả lời STOP để hủy.",
		Help:   "{brand}: trả lời STOP để hủy hoặc START để đăng ký lại.",
	}, stopStart("hủy", "BẮT ĐẦU", "ĐĂNG KÝ LẠI")},
	"th": {Replies{
		OptOut: "คุณจะไม่ได้รับข้อความจาก {brand} อีก ตอบ START เพื่อสมัครรับอีกครั้ง",
		OptIn:  "คุณสมัครรับข้อความจาก {brand} อีกครั้งแล้ว ตอบ STOP เพื่อยกเลิก",
		Help:   "{brand}: ตอบ STOP เพื่อยกเลิก หรือ START เพื่อสมัครรับอีกครั้ง",
	}, stopStart("ยกเลิก", "เริ่ม", "สมัครรับ")},
	"ar": {Replies{
		OptOut: "لن تتلقى المزيد من الرسائل من {brand}. أرسل START لإعادة الاشتراك.",
		OptIn:  "تم تجديد اشتراكك في رسائل {brand}. أرسل STOP لإلغاء الاشتراك.",
		Help:   "{brand}: أرسل STOP لإلغاء الاشتراك أو START لإعادة الاشتراك.",
	}, stopStart("إلغاء الاشتراك", "ابدأ", "اشترك")},
	"hi": {Replies{
		OptOut: "अब आपको {brand} से और संदेश नहीं मिलेंगे। फिर से सदस्यता लेने के लिए START लिखकर भेजें।",
		OptIn:  "आपको {brand} के संदेश फिर से मिलेंगे। सदस्यता समाप्त करने के लिए STOP लिखकर भेजें।",
		Help:   "{brand}: सदस्यता समाप्त करने के लिए STOP और फिर से सदस्यता लेने के लिए START लिखकर भेजें।",
	}, stopStart("सदस्यता समाप्त", "शुरू", "शुरू करें")},
	"tr": {Replies{
		OptOut: "{brand} tarafından gönderilen mesajları artık almayacaksınız. Yeniden abone olmak için START yazıp gönderin.",
		OptIn:  "{brand} mesajlarına yeniden abone oldunuz. Abonelikten çıkmak için STOP yazıp gönderin.",
		Help:   "{brand}: abonelikten çıkmak için STOP, yeniden abone olmak için START yazıp gönderin.",
	}, stopStart("Abonelikten çıkmak", "BAŞLA", "ABONE OL")},
	"ru": {Replies{
		OptOut: "Вы больше не будете получать сообщения от {brand}. Ответьте START, чтобы подписаться снова.",
		OptIn:  "Вы снова подписаны на сообщения от {brand}. Ответьте STOP, чтобы отписаться.",
		Help:   "{brand}: ответьте STOP, чтобы отписаться, или START, чтобы подписаться снова.",
	}, stopStart("отписаться", "СТАРТ", "НАЧАТЬ", "ПОДПИСАТЬСЯ")},
}

// DefaultReplies returns a copy of the built-in reply texts, keyed by BCP 47 locale, with
// {brand} standing for the brand.
func DefaultReplies() map[string]Replies {
	m := make(map[string]Replies, len(defaultReplies))
	for loc, r := range defaultReplies {
		m[loc] = r.texts
	}
	return m
}

// DefaultReplyWords returns, keyed by BCP 47 locale like DefaultReplies, the words each
// language's built-in replies ask customers to send. The classifier built from
// DefaultKeywords knows every one of them.
func DefaultReplyWords() map[string]ReplyWords {
	m := make(map[string]ReplyWords, len(defaultReplies))
	for loc, r := range defaultReplies {
		w := r.words
		w.LocalOptIn = slices.Clone(w.LocalOptIn)
		m[loc] = w
	}
	return m
}

// replyBook picks the reply texts for a contact's locale.
type replyBook struct {
	brand string
	texts map[string]Replies // by lower-cased locale
}

func newReplyBook(brand string, overrides map[string]Replies) replyBook {
	b := replyBook{brand: brand, texts: map[string]Replies{}}
	for loc, r := range defaultReplies {
		b.texts[strings.ToLower(loc)] = r.texts
	}
	for loc, r := range overrides {
		base := b.texts[strings.ToLower(loc)]
		if r.OptOut == "" {
			r.OptOut = base.OptOut
		}
		if r.OptIn == "" {
			r.OptIn = base.OptIn
		}
		if r.Help == "" {
			r.Help = base.Help
		}
		b.texts[strings.ToLower(loc)] = r
	}
	return b
}

// For returns the texts for a BCP 47 locale, dropping subtags until one is known
// (zh-Hant-TW → zh-Hant → zh) and falling back to English.
func (b replyBook) For(locale string) Replies {
	loc := strings.ToLower(strings.ReplaceAll(locale, "_", "-"))
	for loc != "" {
		if r, ok := b.texts[loc]; ok {
			return b.fill(r)
		}
		i := strings.LastIndexByte(loc, '-')
		if i < 0 {
			break
		}
		loc = loc[:i]
	}
	return b.fill(b.texts["en"])
}

func (b replyBook) fill(r Replies) Replies {
	return Replies{
		OptOut: strings.ReplaceAll(r.OptOut, "{brand}", b.brand),
		OptIn:  strings.ReplaceAll(r.OptIn, "{brand}", b.brand),
		Help:   strings.ReplaceAll(r.Help, "{brand}", b.brand),
	}
}

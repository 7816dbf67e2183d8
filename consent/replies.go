package consent

import "strings"

// Replies are the texts sent back to a customer in one language. {brand} stands for the
// configured brand.
type Replies struct {
	OptOut string // the one confirmation of an opt-out
	OptIn  string // the confirmation of an opt-in
	Help   string // the answer to HELP
}

// defaultReplies follow DESIGN §4. START and STOP stay in English: the classifier knows
// them in every language.
var defaultReplies = map[string]Replies{
	"en": {
		OptOut: "You won't get more messages from {brand}. Reply START to resubscribe.",
		OptIn:  "You're subscribed to messages from {brand} again. Reply STOP to unsubscribe.",
		Help:   "{brand}: reply STOP to unsubscribe or START to subscribe again.",
	},
	"es": {
		OptOut: "Ya no recibirás más mensajes de {brand}. Responde START para volver a suscribirte.",
		OptIn:  "Vuelves a estar suscrito a los mensajes de {brand}. Responde STOP para darte de baja.",
		Help:   "{brand}: responde STOP para darte de baja o START para volver a suscribirte.",
	},
	"pt": {
		OptOut: "Você não receberá mais mensagens de {brand}. Responda START para se inscrever novamente.",
		OptIn:  "Você voltou a receber mensagens de {brand}. Responda STOP para cancelar.",
		Help:   "{brand}: responda STOP para cancelar ou START para se inscrever novamente.",
	},
	"fr": {
		OptOut: "Vous ne recevrez plus de messages de {brand}. Répondez START pour vous réabonner.",
		OptIn:  "Vous êtes de nouveau abonné aux messages de {brand}. Répondez STOP pour vous désabonner.",
		Help:   "{brand} : répondez STOP pour vous désabonner ou START pour vous réabonner.",
	},
	"de": {
		OptOut: "Sie erhalten keine Nachrichten mehr von {brand}. Antworten Sie START, um sie wieder zu erhalten.",
		OptIn:  "Sie erhalten wieder Nachrichten von {brand}. Antworten Sie STOP, um sich abzumelden.",
		Help:   "{brand}: Antworten Sie STOP zum Abmelden oder START zum erneuten Anmelden.",
	},
	"id": {
		OptOut: "Anda tidak akan menerima pesan lagi dari {brand}. Balas START untuk berlangganan kembali.",
		OptIn:  "Anda kembali berlangganan pesan dari {brand}. Balas STOP untuk berhenti.",
		Help:   "{brand}: balas STOP untuk berhenti atau START untuk berlangganan kembali.",
	},
	"ms": {
		OptOut: "Anda tidak akan menerima mesej lagi daripada {brand}. Balas START untuk melanggan semula.",
		OptIn:  "Anda melanggan mesej daripada {brand} semula. Balas STOP untuk berhenti.",
		Help:   "{brand}: balas STOP untuk berhenti atau START untuk melanggan semula.",
	},
	"zh": {
		OptOut: "您将不会再收到{brand}的消息。回复 START 可重新订阅。",
		OptIn:  "您已重新订阅{brand}的消息。回复 STOP 可退订。",
		Help:   "{brand}：回复 STOP 退订，回复 START 重新订阅。",
	},
	"zh-Hant": {
		OptOut: "您將不會再收到{brand}的訊息。回覆 START 可重新訂閱。",
		OptIn:  "您已重新訂閱{brand}的訊息。回覆 STOP 可取消訂閱。",
		Help:   "{brand}：回覆 STOP 取消訂閱，回覆 START 重新訂閱。",
	},
	"vi": {
		OptOut: "Bạn sẽ không nhận thêm tin nhắn từ {brand}. Trả lời START để đăng ký lại.",
		OptIn:  "Bạn đã đăng ký lại tin nhắn từ {brand}. Trả lời STOP để hủy.",
		Help:   "{brand}: trả lời STOP để hủy hoặc START để đăng ký lại.",
	},
	"th": {
		OptOut: "คุณจะไม่ได้รับข้อความจาก {brand} อีก ตอบ START เพื่อสมัครรับอีกครั้ง",
		OptIn:  "คุณสมัครรับข้อความจาก {brand} อีกครั้งแล้ว ตอบ STOP เพื่อยกเลิก",
		Help:   "{brand}: ตอบ STOP เพื่อยกเลิก หรือ START เพื่อสมัครรับอีกครั้ง",
	},
}

// replyBook picks the reply texts for a contact's locale.
type replyBook struct {
	brand string
	texts map[string]Replies // by lower-cased locale
}

func newReplyBook(brand string, overrides map[string]Replies) replyBook {
	b := replyBook{brand: brand, texts: map[string]Replies{}}
	for loc, r := range defaultReplies {
		b.texts[strings.ToLower(loc)] = r
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

package consent

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func newDefaultClassifier(t testing.TB) *Classifier {
	t.Helper()
	c, err := NewClassifier(DefaultKeywords())
	require.NoError(t, err)
	return c
}

func TestClassify(t *testing.T) {
	t.Parallel()

	c := newDefaultClassifier(t)

	tests := []struct {
		text string
		want Class
	}{
		// Exact English keywords, any case, with the usual noise around them.
		{"STOP", ClassOptOut},
		{"stop", ClassOptOut},
		{"Stop", ClassOptOut},
		{"sToP", ClassOptOut},
		{"STOPALL", ClassOptOut},
		{"stop all", ClassOptOut},
		{"UNSUBSCRIBE", ClassOptOut},
		{"unsub", ClassOptOut},
		{"Cancel", ClassOptOut},
		{"END", ClassOptOut},
		{"quit", ClassOptOut},
		{"Revoke", ClassOptOut},
		{"OPTOUT", ClassOptOut},
		{"opt out", ClassOptOut},
		{"OPT-OUT", ClassOptOut},
		{"opt_out", ClassOptOut},
		{"Opt—Out", ClassOptOut},
		{"REMOVE", ClassOptOut},
		{"TD", ClassOptOut},
		{"Stop promotions", ClassOptOut},
		{"STOP PROMOTIONS", ClassOptOut},
		{"  stop  ", ClassOptOut},
		{"\tSTOP\r\n", ClassOptOut},
		{"stop.", ClassOptOut},
		{"STOP!!!", ClassOptOut},
		{"stop?", ClassOptOut},
		{"End?", ClassOptOut},
		{"\"STOP\"", ClassOptOut},
		{"*stop*", ClassOptOut},
		{"(stop)", ClassOptOut},
		{"🛑 STOP 🛑", ClassOptOut},
		{"STOP👋🏼", ClassOptOut},
		{"❌❌stop❌❌", ClassOptOut},
		{"stop   all", ClassOptOut},
		{"stop\u00a0all", ClassOptOut},
		{"opt\u3000out", ClassOptOut},

		// Unicode tricks: width, styled letters, invisible characters.
		{"ＳＴＯＰ", ClassOptOut},
		{"ｓｔｏｐ", ClassOptOut},
		{"𝐒𝐓𝐎𝐏", ClassOptOut},
		{"Ⓢⓣⓞⓟ", ClassOptOut},
		{"S\u200bTOP", ClassOptOut},
		{"\ufeffstop", ClassOptOut},
		{"st\u00adop", ClassOptOut},
		{"S\u200cT\u200dO\u2060P", ClassOptOut},
		{"stop\u200e", ClassOptOut},
		{"UNSUB\u034fSCRIBE", ClassOptOut},
		{"ＨＥＬＰ", ClassHelp},

		// Other markets.
		{"退订", ClassOptOut},
		{"退訂", ClassOptOut},
		{"取消订阅", ClassOptOut},
		{"退订。", ClassOptOut},
		{"td", ClassOptOut},
		{"BERHENTI", ClassOptOut},
		{"Berhenti langganan", ClassOptOut},
		{"ยกเลิก", ClassOptOut},
		{"หยุด", ClassOptOut},
		{"ARRET", ClassOptOut},
		{"ARRÊT", ClassOptOut},
		{"arre\u0302t", ClassOptOut}, // decomposed ê
		{"Désabonner", ClassOptOut},
		{"HỦY", ClassOptOut},
		{"hủy", ClassOptOut},
		{"HUỶ", ClassOptOut},
		{"huy", ClassOptOut},
		{"Hủy đăng ký", ClassOptOut},
		{"DỪNG", ClassOptOut},
		{"dung", ClassNone}, // dừng, dùng or đúng: too ambiguous unaccented
		{"BAJA", ClassOptOut},
		{"Alto", ClassOptOut},
		{"cancelar", ClassOptOut},
		{"PARAR", ClassOptOut},
		{"sair", ClassOptOut},
		{"ABMELDEN", ClassOptOut},
		{"Stopp", ClassOptOut},
		{"basta", ClassOptOut},
		{"CANCELLAMI", ClassOptOut},
		{"إلغاء", ClassOptOut},
		{"الغاء", ClassOptOut},
		{"إلغـــاء", ClassOptOut}, // tatweel
		{"إِلْغَاء", ClassOptOut}, // harakat
		{"توقف", ClassOptOut},
		{"बंद करो", ClassOptOut},
		{"band karo", ClassOptOut},
		{"Itigil", ClassOptOut},
		// Indian languages (issue 15): stop, please stop, unsubscribe.
		{"ఆపు", ClassOptOut},      // Telugu
		{"ఆపండి", ClassOptOut},    // Telugu
		{"நிறுத்து", ClassOptOut}, // Tamil
		{"থামুন", ClassOptOut},    // Bengali
		{"বন্ধ করুন", ClassOptOut},
		{"थांबवा", ClassOptOut},          // Marathi
		{"બંધ કરો", ClassOptOut},         // Gujarati
		{"ನಿಲ್ಲಿಸಿ", ClassOptOut},        // Kannada
		{"നിർത്തുക", ClassOptOut},        // Malayalam, atomic chillu
		{"നിര്\u200dത്തുക", ClassOptOut}, // Malayalam, old chillu with ZWJ
		{"ਰੋਕੋ", ClassOptOut},            // Punjabi
		{"بند کریں", ClassOptOut},        // Urdu
		{"ఆపు దయచేసి", ClassOptOut},      // Telugu: stop please
		{"థాంక్స్", ClassNone},           // Telugu: thanks
		// Russian and Turkish.
		{"СТОП", ClassOptOut},
		{"отписаться", ClassOptOut},
		{"Отписаться.", ClassOptOut},
		{"RET", ClassOptOut},
		{"Abonelikten çık", ClassOptOut},
		{"ABONELİKTEN ÇIKMAK", ClassOptOut},

		// Opt-in and help: exact only.
		{"START", ClassOptIn},
		{"start.", ClassOptIn},
		{"Yes", ClassOptIn},
		{"YES!", ClassOptIn},
		{"UNSTOP", ClassOptIn},
		{"Alta", ClassOptIn},
		{"Sí", ClassOptIn},
		{"订阅", ClassOptIn},
		// The local word for START (issue 15), exact only.
		{"开始", ClassOptIn},
		{"開始", ClassOptIn},
		{"开始。", ClassOptIn},
		{"Empezar", ClassOptIn},
		{"Começar", ClassOptIn},
		{"Démarrer", ClassOptIn},
		{"Anmelden", ClassOptIn},
		{"Inizia", ClassOptIn},
		{"Mula", ClassOptIn},
		{"เริ่ม", ClassOptIn},
		{"Bắt đầu", ClassOptIn},
		{"ابدأ", ClassOptIn},
		{"शुरू", ClassOptIn},
		{"Başla", ClassOptIn},
		{"Старт", ClassOptIn},
		{"Начать", ClassOptIn},
		{"开始发送优惠吧", ClassNone},
		{"请开始", ClassNone},
		{"başla bakalım ne olacak", ClassNone},
		{"yes please", ClassNone},
		{"start sending me deals", ClassNone},
		{"HELP", ClassHelp},
		{"help?", ClassHelp},
		{"Info", ClassHelp},
		{"AYUDA", ClassHelp},
		{"aide", ClassHelp},
		{"Bantuan", ClassHelp},
		{"帮助", ClassHelp},
		{"help me", ClassNone},
		{"info about the sale", ClassNone},

		// Natural-language opt-outs, English.
		{"stop please", ClassOptOut},
		{"please stop", ClassOptOut},
		{"Stop, please!", ClassOptOut},
		{"pls stop", ClassOptOut},
		{"STOP STOP STOP", ClassOptOut},
		{"stop it", ClassOptOut},
		{"stop it now", ClassOptOut},
		{"just stop", ClassOptOut},
		{"unsubscribe me", ClassOptOut},
		{"Unsubscribe me please", ClassOptOut},
		{"stop texting me", ClassOptOut},
		{"STOP TEXTING ME!!!", ClassOptOut},
		{"stop messaging me", ClassOptOut},
		{"stop sending me these messages", ClassOptOut},
		{"stop sending me deals", ClassOptOut},
		{"remove me from your list", ClassOptOut},
		{"Please remove me from this mailing list, thanks", ClassOptOut},
		{"remove my number", ClassOptOut},
		{"take me off your list", ClassOptOut},
		{"take me off", ClassOptOut},
		{"don't message me again", ClassOptOut},
		{"dont text me", ClassOptOut},
		{"Do not contact me anymore", ClassOptOut},
		{"please don’t send me any more messages", ClassOptOut},
		{"never text me again", ClassOptOut},
		{"no more messages", ClassOptOut},
		{"No more texts please", ClassOptOut},
		{"no more", ClassOptOut},
		{"no spam please", ClassOptOut},
		{"I want to unsubscribe", ClassOptOut},
		{"i wanna unsubscribe", ClassOptOut},
		{"I'd like to opt out", ClassOptOut},
		{"I don't want these messages", ClassOptOut},
		{"I don't want to receive any more promotions", ClassOptOut},
		{"can you stop texting me?", ClassOptOut},
		{"Could you please unsubscribe me", ClassOptOut},
		{"hi, please stop sending me messages", ClassOptOut},
		{"cancel my subscription", ClassOptOut},
		{"opt me out", ClassOptOut},
		{"leave me alone", ClassOptOut},
		{"Wrong number", ClassOptOut},
		{"stop, wrong number", ClassOptOut},
		{"No, stop", ClassOptOut},
		{"No! Stop texting me", ClassOptOut},
		{"ok stop", ClassOptOut},
		{"stop 🛑 please 🙏", ClassOptOut},
		{"s\u200btop texting me", ClassOptOut},
		{"STOP SENDING ME THIS CRAP", ClassOptOut},
		{"I want to be removed", ClassOptOut},
		{"no thanks, stop", ClassOptOut},
		{"Hi Acme, stop", ClassOptOut},
		{"Dear Acme Store, please unsubscribe me", ClassOptOut},
		{"Stop sending me stuff", ClassOptOut},
		{"please stop?", ClassOptOut}, // a request, not a question
		{"Stop spamming me!!!", ClassOptOut},
		{"please delete my number", ClassOptOut},
		{"unsubscribe from all", ClassOptOut},
		{"No more deals!!", ClassOptOut},
		{"no messages", ClassOptOut},
		{"stop sms", ClassOptOut},

		// One sentence of the message is the opt-out.
		{"Who is this? STOP", ClassOptOut},
		{"STOP. I never signed up for this.", ClassOptOut},
		{"I never asked for these.\nUnsubscribe me", ClassOptOut},
		{"你是谁？退订", ClassOptOut},
		{"Stop. Now.", ClassOptOut},
		// The accepted cost of this rule: a keyword as its own sentence
		// wins even next to unrelated text.
		{"Stop! This deal is too good", ClassOptOut},

		// Natural-language opt-outs, other languages.
		{"baja por favor", ClassOptOut},
		{"Por favor, dar de baja", ClassOptOut},
		{"quiero darme de baja", ClassOptOut},
		{"no me envíen más mensajes", ClassOptOut},
		{"No quiero más mensajes", ClassOptOut},
		{"dejen de enviarme mensajes", ClassOptOut},
		{"no más", ClassOptOut},
		{"parar por favor", ClassOptOut},
		{"quero sair da lista", ClassOptOut},
		{"Não me mande mais mensagens", ClassOptOut},
		{"não quero mais mensagens", ClassOptOut},
		{"stop merci", ClassOptOut},
		{"Arrêtez svp", ClassOptOut},
		{"désabonnez-moi", ClassOptOut},
		{"Je veux me désabonner", ClassOptOut},
		{"ne m'envoyez plus de messages", ClassOptOut},
		{"plus de pub svp", ClassOptOut},
		{"bitte abmelden", ClassOptOut},
		{"keine Werbung mehr bitte", ClassOptOut},
		{"non voglio più messaggi", ClassOptOut},
		{"basta grazie", ClassOptOut},
		{"tolong berhenti", ClassOptOut},
		{"jangan kirim pesan lagi", ClassOptOut},
		{"saya tidak mau terima promo lagi", ClassOptOut},
		{"stop ya", ClassOptOut},
		{"hủy giúp em", ClassOptOut},
		{"Làm ơn đừng gửi tin nhắn nữa", ClassOptOut},
		{"không muốn nhận tin nhắn nữa", ClassOptOut},
		{"itigil na po", ClassOptOut},
		{"huwag nyo na akong itext", ClassOptOut},
		{"pare de enviar mensagens", ClassOptOut},
		{"توقف من فضلك", ClassOptOut},
		{"لا ترسل لي رسائل", ClassOptOut},
		{"请退订", ClassOptOut},
		{"我要退订，谢谢", ClassOptOut},
		{"退订谢谢", ClassOptOut},
		{"不要再发了", ClassOptOut},
		{"ขอยกเลิกค่ะ", ClassOptOut},
		{"หยุดส่งครับ", ClassOptOut},
		{"ยกเลิก ครับ", ClassOptOut},

		// Keywords inside unrelated sentences and questions.
		{"when does the sale stop?", ClassNone},
		{"does the promo end today?", ClassNone},
		{"don't stop sending me deals", ClassNone},
		{"cancel my order #1234", ClassNone},
		{"how do I cancel my order", ClassNone},
		{"I can't stop buying your stuff 😂", ClassNone},
		{"stop by our store", ClassNone},
		{"the end of the month", ClassNone},
		{"Can you stop by tomorrow?", ClassNone},
		{"I'll stop by later", ClassNone},
		{"end of season sale?", ClassNone},
		{"remove the item from my cart", ClassNone},
		{"please cancel the order", ClassNone},
		{"can you end the call", ClassNone},
		{"End? Already?", ClassNone},
		{"stop the presses, this deal is amazing", ClassNone},
		{"I want to stop by the store", ClassNone},
		{"who is this", ClassNone},
		{"退订吗", ClassNone},              // a question: may I unsubscribe?
		{"取消订单", ClassNone},             // cancel the order
		{"ยกเลิกคำสั่งซื้อ", ClassNone}, // cancel the order
		{"cancelar mi pedido", ClassNone},
		{"hủy đơn hàng", ClassNone}, // cancel the order
		{"parar de comprar", ClassNone},
		{"stop texting me?", ClassNone}, // a question without a request opener
		{"who is this? stop?", ClassNone},
		{"How do I unsubscribe?", ClassNone},
		{"why won't you stop texting me?", ClassNone}, // a known miss: "why" is no lead
		{"stop at 5pm?", ClassNone},
		{"no more stock?", ClassNone},
		{"td bank", ClassNone},
		{"delete this photo", ClassNone},
		{"cancel all orders", ClassNone},
		{"Hello Sarah, cancel my order please", ClassNone},
		{"Hi, stop by tomorrow", ClassNone},
		{"tolong kirim katalog", ClassNone},
		{"yes, send me more messages", ClassNone},
		{"don't forget to send me the deals", ClassNone},
		{"no, don't send me the catalogue", ClassNone},

		// Negations.
		{"don't stop", ClassNone},
		{"never stop", ClassNone},
		{"please don't end this promo", ClassNone},
		{"I don't want to stop receiving", ClassNone},
		{"no stop sending", ClassNone},
		{"No. Don't stop!", ClassNone},
		{"no pare de enviarme ofertas", ClassNone},
		{"jangan berhenti", ClassNone},
		{"No, thanks", ClassNone},
		{"no problem", ClassNone},
		{"no me interesa", ClassNone},
		{"Non merci", ClassNone},
		{"jangan lupa promo besok", ClassNone}, // don't forget tomorrow's promo
		{"I don't want it", ClassNone},         // not interested is not an opt-out

		// Neither keyword nor request.
		{"", ClassNone},
		{"   ", ClassNone},
		{"🛑", ClassNone},
		{"!!!", ClassNone},
		{"\u200b\u200b", ClassNone},
		{"no", ClassNone},
		{"thanks!", ClassNone},
		{"not interested", ClassNone},
		{"S T O P", ClassOptOut}, // spelled out: see TestClassifySpelled
		{"stopping", ClassNone},
		{"ЅТОР", ClassNone}, // Cyrillic look-alikes are not folded
		{"Hi, I'd like two of the blue shirts please", ClassNone},
		{"stop " + strings.Repeat("please ", 30), ClassNone},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, c.Classify(tt.text), "normalised: %q", Normalize(tt.text))
		})
	}
}

// TestClassifyLocales checks natural opt-out phrasings in each language Crier
// ships footers for, and that a keyword inside an unrelated sentence or a
// question in that language is not an opt-out.
func TestClassifyLocales(t *testing.T) {
	t.Parallel()

	c := newDefaultClassifier(t)

	tests := []struct {
		locale string
		optOut []string
		none   []string
	}{
		{"en", []string{
			"stop please", "unsubscribe me", "stop texting me", "remove me from your list",
			"please don't send me any more messages", "I want to unsubscribe",
		}, []string{
			"when does the sale stop?", "cancel my order #1234", "don't stop sending me deals",
			"How do I unsubscribe?",
		}},
		{"es", []string{
			"baja por favor", "quiero darme de baja", "no me envíen más mensajes",
			"dejen de enviarme mensajes", "no quiero recibir más mensajes", "ya no me manden mensajes",
			"darte de baja",
		}, []string{
			"¿cuándo termina la oferta?", "cancelar mi pedido", "no pare de enviarme ofertas",
			"¿cómo me doy de baja?",
		}},
		{"pt", []string{
			"quero sair da lista", "Não me mande mais mensagens", "não quero mais mensagens",
			"pare de enviar mensagens", "me tire da lista", "cancelar a inscrição",
		}, []string{
			"quando acaba a promoção?", "cancelar meu pedido", "parar de comprar",
			"não pare de mandar ofertas",
		}},
		{"fr", []string{
			"Je veux me désabonner", "ne m'envoyez plus de messages", "plus de pub svp",
			"désabonnez-moi", "arrêtez de m'envoyer des messages", "vous désabonner",
		}, []string{
			"quand se termine la promo ?", "annuler ma commande 1234", "n'arrêtez pas les promos",
		}},
		{"de", []string{
			"bitte nicht mehr schreiben", "keine Nachrichten mehr", "ich will keine Werbung mehr",
			"hört auf mir zu schreiben", "nicht mehr schreiben", "bitte abmelden",
			"ich möchte mich abmelden", "sich abzumelden", "Bitte keine Nachrichten mehr senden",
		}, []string{
			"Wann endet das Angebot?", "Bitte stornieren Sie meine Bestellung 1234",
			"Hört nicht auf, mir Angebote zu schicken", "Kann ich mich abmelden?",
			"nicht mehr vorrätig", "Nicht mehr vorrätig?",
		}},
		{"it", []string{
			"non voglio più messaggi", "basta grazie", "cancellami dalla lista",
			"non mandatemi più messaggi", "smettetela di scrivermi", "annullare l'iscrizione",
			"disiscrivimi per favore",
		}, []string{
			"quando finisce la promozione?", "annulla il mio ordine 1234",
			"non smettete di mandarmi offerte", "annullare l'ordine",
		}},
		{"id", []string{
			"tolong berhenti", "jangan kirim pesan lagi", "saya tidak mau terima promo lagi",
			"berhenti berlangganan", "stop kirim pesan", "hapus nomor saya",
		}, []string{
			"kapan promonya berakhir?", "batalkan pesanan saya", "jangan berhenti",
		}},
		{"ms", []string{
			"tolong berhenti", "jangan hantar mesej lagi", "saya tak nak terima mesej lagi",
			"berhenti melanggan", "sila keluarkan saya", "jangan ganggu saya lagi",
		}, []string{
			"bila promosi tamat?", "batalkan pesanan saya", "jangan lupa hantar katalog",
		}},
		{"th", []string{
			"ขอยกเลิกค่ะ", "หยุดส่งครับ", "ยกเลิก ครับ", "ไม่ต้องส่งมาอีก", "เลิกรับข้อความ",
			"กรุณาหยุดส่งข้อความ", "ยกเลิกการสมัครค่ะ",
		}, []string{
			"ยกเลิกคำสั่งซื้อ", "โปรโมชั่นหมดเมื่อไหร่", "ยกเลิกได้ไหม",
		}},
		{"vi", []string{
			"hủy giúp em", "Làm ơn đừng gửi tin nhắn nữa", "không muốn nhận tin nhắn nữa",
			"hủy đăng ký", "dừng gửi tin nhắn", "đừng nhắn tin cho tôi nữa",
		}, []string{
			"hủy đơn hàng", "khi nào hết khuyến mãi?", "đừng dừng gửi khuyến mãi",
		}},
		{"zh", []string{
			"请退订", "我要退订，谢谢", "不要再发了", "取消订阅", "请停止发送", "退订谢谢",
		}, []string{
			"退订吗", "取消订单", "活动什么时候结束？",
		}},
		{"zh-Hant", []string{
			"請退訂", "我要退訂，謝謝", "不要再發了", "取消訂閱", "請停止發送", "別再發了",
		}, []string{
			"取消訂單", "退訂嗎", "活動什麼時候結束？",
		}},
		{"ar", []string{
			"توقف من فضلك", "لا ترسل لي رسائل", "إلغاء الاشتراك", "أريد إلغاء الاشتراك",
			"توقفوا عن إرسال الرسائل", "لا أريد رسائل",
		}, []string{
			"متى ينتهي العرض؟", "إلغاء الطلب", "لا تتوقفوا عن إرسال العروض",
		}},
		{"hi", []string{
			"बंद करो", "कृपया बंद करें", "मत भेजो", "सदस्यता रद्द करें", "मुझे मैसेज मत भेजो",
			"मैसेज भेजना बंद करो", "सदस्यता समाप्त करें",
		}, []string{
			"सेल कब बंद होगी?", "मेरा ऑर्डर रद्द करें", "दुकान बंद है",
		}},
		{"tr", []string{
			"abonelikten çık", "abonelikten çıkmak istiyorum", "mesaj göndermeyin",
			"lütfen bana mesaj atmayın", "aboneliğimi iptal edin", "bir daha mesaj göndermeyin",
			"beni listeden çıkarın", "RET",
		}, []string{
			"siparişimi iptal edin", "kampanya ne zaman bitiyor?", "mesaj göndermeyi unutmayın",
			"RET ne demek?", "iptal mi oldu?",
		}},
		{"ru", []string{
			"отписаться", "отпишите меня", "больше не пишите", "хватит присылать",
			"не присылайте мне сообщения", "стоп пожалуйста", "хочу отписаться",
			"уберите меня из рассылки", "не пишите мне больше",
		}, []string{
			"когда закончится акция?", "отмените мой заказ 1234", "не останавливайтесь, присылайте скидки",
			"как отписаться?", "стоп-кран", "почему вы мне пишете?",
		}},
	}
	for _, tt := range tests {
		require.GreaterOrEqual(t, len(tt.optOut), 5, "%s: at least five phrasings", tt.locale)
		require.NotEmpty(t, tt.none, "%s: negatives", tt.locale)
		for _, text := range tt.optOut {
			require.Equal(t, ClassOptOut, c.Classify(text), "%s %q, normalised %q", tt.locale, text, Normalize(text))
		}
		for _, text := range tt.none {
			require.Equal(t, ClassNone, c.Classify(text), "%s %q, normalised %q", tt.locale, text, Normalize(text))
		}
	}
}

// TestClassifySpelled checks messages that spell a keyword letter by letter.
func TestClassifySpelled(t *testing.T) {
	t.Parallel()

	c := newDefaultClassifier(t)

	tests := []struct {
		text  string
		want  Class
		match MatchKind
	}{
		{"S T O P", ClassOptOut, MatchSpelled},
		{"S.T.O.P", ClassOptOut, MatchSpelled},
		{"s-t-o-p", ClassOptOut, MatchSpelled},
		{"S. T. O. P.", ClassOptOut, MatchSpelled},
		{"S_T_O_P!!", ClassOptOut, MatchSpelled},
		{"Ｓ Ｔ Ｏ Ｐ", ClassOptOut, MatchSpelled},
		{"s\u200b t o p", ClassOptOut, MatchSpelled},
		{"E N D", ClassOptOut, MatchSpelled},
		{"退 订", ClassOptOut, MatchSpelled},
		{"退。订", ClassOptOut, MatchSpelled},
		{"H Ủ Y", ClassOptOut, MatchSpelled},
		{"С Т О П", ClassOptOut, MatchSpelled},
		// Opt-in and help stay exact.
		{"S T A R T", ClassNone, MatchNone},
		{"H E L P", ClassNone, MatchNone},
		{"开 始", ClassNone, MatchNone},
		{"S.I.M.", ClassNone, MatchNone},
		// Ordinary short messages stay what they are.
		{"I A M", ClassNone, MatchNone},
		{"a b", ClassNone, MatchNone},
		{"a b c", ClassNone, MatchNone},
		{"T D", ClassNone, MatchNone}, // two Latin letters are initials, not a keyword
		{"S I", ClassNone, MatchNone},
		{"Y A", ClassNone, MatchNone},
		{"S T O P texting", ClassNone, MatchNone},
		{"S T O P S", ClassNone, MatchNone},
		{"1 2 3", ClassNone, MatchNone},
		{"S", ClassNone, MatchNone},
		{"退", ClassNone, MatchNone},
		{"你 好", ClassNone, MatchNone},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			got := c.Explain(tt.text)
			require.Equal(t, tt.want, got.Class, "normalised: %q", got.Normalized)
			require.Equal(t, tt.match, got.Match)
			require.Equal(t, Normalize(tt.text), got.Normalized, "the evidence keeps what was sent")
		})
	}
}

func ExampleClassifier() {
	// Built once at start-up, from the defaults plus a market's words.
	kw := DefaultKeywords()
	kw.OptOut = append(kw.OptOut, "LOPETA") // Finnish
	c, err := NewClassifier(kw)
	if err != nil {
		panic(err)
	}

	for _, text := range []string{"STOP", "Lopeta!", "please stop texting me 🙏", "when does the sale stop?", "yes", "HELP"} {
		fmt.Println(c.Classify(text))
	}
	fmt.Printf("%+v\n", c.Explain("Please, unsubscribe me"))
	// Output:
	// opt_out
	// opt_out
	// opt_out
	// none
	// opt_in
	// help
	// {Class:opt_out Match:intent Normalized:please unsubscribe me}
}

func TestClassifyCustomKeywords(t *testing.T) {
	t.Parallel()

	kw := DefaultKeywords()
	kw.OptOut = append(kw.OptOut, "LOPETA", "İPTAL") // Finnish, Turkish
	kw.OptIn = append(kw.OptIn, "ALOITA")
	kw.Help = append(kw.Help, "APUA")
	c, err := NewClassifier(kw)
	require.NoError(t, err)

	tests := []struct {
		text string
		want Class
	}{
		{"lopeta", ClassOptOut},
		{"LOPETA!", ClassOptOut},
		{"lopeta please", ClassOptOut}, // a keyword is a verb of the grammar
		{"iptal", ClassOptOut},
		{"İPTAL", ClassOptOut},
		{"IPTAL", ClassOptOut},
		{"ıptal", ClassOptOut},
		{"aloita", ClassOptIn},
		{"Apua", ClassHelp},
		{"stop", ClassOptOut},
		{"lopetan", ClassNone},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, c.Classify(tt.text))
		})
	}

	// The defaults do not know the new words.
	require.Equal(t, ClassNone, newDefaultClassifier(t).Classify("lopeta"))
}

func TestClassifyOnlyConfiguredKeywords(t *testing.T) {
	t.Parallel()

	c, err := NewClassifier(Keywords{OptOut: []string{"stop"}})
	require.NoError(t, err)

	require.Equal(t, ClassOptOut, c.Classify("STOP"))
	require.Equal(t, ClassOptOut, c.Classify("stop texting me"))
	require.Equal(t, ClassNone, c.Classify("unsubscribe me"), "unsubscribe is not configured")
	require.Equal(t, ClassNone, c.Classify("yes"))
	require.Equal(t, ClassNone, c.Classify("help"))
	// The intent vocabulary stays: "unsubscribe" is not a keyword here, but
	// "no more" is a rule of its own.
	require.Equal(t, ClassOptOut, c.Classify("no more messages"))
}

func TestNewClassifierErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		kw      Keywords
		wantErr string
	}{
		{"empty keyword", Keywords{OptOut: []string{"stop", ""}}, `opt_out keyword "" is empty`},
		{"emoji only", Keywords{Help: []string{"🆘"}}, `help keyword "🆘" is empty`},
		{"two classes", Keywords{OptOut: []string{"stop"}, OptIn: []string{"STOP!"}}, `keyword "STOP!" is both opt_out and opt_in`},
		{"default plus conflict", Keywords{OptOut: append(DefaultKeywords().OptOut, "yes"), OptIn: DefaultKeywords().OptIn}, `keyword "YES" is both opt_out and opt_in`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewClassifier(tt.kw)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestDefaultKeywordsAreCopies(t *testing.T) {
	t.Parallel()

	kw := DefaultKeywords()
	kw.OptOut[0] = "changed"
	require.Equal(t, "STOP", DefaultKeywords().OptOut[0])
}

func TestExplain(t *testing.T) {
	t.Parallel()

	c := newDefaultClassifier(t)

	tests := []struct {
		text string
		want Classification
	}{
		{"  ＳＴＯＰ!! ", Classification{Class: ClassOptOut, Match: MatchExact, Normalized: "stop"}},
		{"Please stop texting me 🙏", Classification{Class: ClassOptOut, Match: MatchIntent, Normalized: "please stop texting me"}},
		{"请退订", Classification{Class: ClassOptOut, Match: MatchIntent, Normalized: "请退订"}},
		{"Yes!", Classification{Class: ClassOptIn, Match: MatchExact, Normalized: "yes"}},
		{"HELP", Classification{Class: ClassHelp, Match: MatchExact, Normalized: "help"}},
		{"cancel my order #1234", Classification{Class: ClassNone, Match: MatchNone, Normalized: "cancel my order 1234"}},
		{"🛑", Classification{Class: ClassNone, Match: MatchNone, Normalized: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			got := c.Explain(tt.text)
			require.Equal(t, tt.want, got)
			require.Equal(t, got.Class, c.Classify(tt.text))
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()

	tests := []struct {
		text string
		want string
	}{
		{"STOP", "stop"},
		{"  Stop   All  ", "stop all"},
		{"stop\t\n all", "stop all"},
		{"OPT-OUT", "opt out"},
		{"opt_out", "opt out"},
		{"¡¡BAJA!!", "baja"},
		{"🛑STOP🛑", "stop"},
		{"👨‍👩‍👧 stop 👍🏽", "stop"},
		{"#️⃣ stop", "stop"}, // keycap: the enclosing mark goes with the symbol
		{"ＳＴＯＰ", "stop"},
		{"𝕊𝕋𝕆ℙ", "stop"},
		{"ﬁn", "fin"}, // ligature
		{"S\u200bT\u200cO\u200dP\u2060\ufeff", "stop"},
		{"st\u00adop", "stop"},
		{"don't", "dont"},
		{"don’t stop", "dont stop"},
		{"'stop'", "stop"},
		{"rock 'n' roll", "rock n roll"},
		{"STRASSE", "strasse"},
		{"Straße", "strasse"},
		{"İPTAL", "iptal"},
		{"ıptal", "iptal"},
		{"ΣΤΟΠ", "στοπ"},
		{"HỦY ĐĂNG KÝ", "hủy đăng ký"},
		{"Hu\u0309y", "hủy"}, // decomposed hook above composes
		{"ARRÊT", "arrêt"},
		{"退订。", "退订"},
		{"我要退订，谢谢", "我要退订 谢谢"},
		{"ยกเลิก ค่ะ", "ยกเลิก ค่ะ"},
		{"إلغـاء", "إلغاء"}, // tatweel dropped
		{"cancel my order #1234", "cancel my order 1234"},
		{"ꭲ", "Ꭲ"}, // Cherokee folds to the capitals
		{"Ꭲ", "Ꭲ"},
		{"", ""},
		{"🛑!!", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			got := Normalize(tt.text)
			require.Equal(t, tt.want, got)
			require.Equal(t, got, Normalize(got), "idempotent")
		})
	}
}

// TestNormalizeIdempotentEveryRune checks idempotency for each code point of
// the first two planes alone and after a letter, where case folding and NFKC
// have their surprises (x/text folds Cherokee back and forth).
func TestNormalizeIdempotentEveryRune(t *testing.T) {
	t.Parallel()

	for r := rune(0); r < 0x20000; r++ {
		for _, text := range []string{string(r), "I" + string(r)} {
			n := Normalize(text)
			if n != Normalize(n) {
				require.Equal(t, n, Normalize(n), "U+%04X in %q", r, text)
			}
		}
	}
}

// TestNormalizeASCIIFastPath checks that the ASCII shortcut of normalize
// agrees with the full Unicode pipeline.
func TestNormalizeASCIIFastPath(t *testing.T) {
	t.Parallel()

	for _, text := range []string{
		"STOP", "  Stop All!! ", "don't", "'quoted'", "a'", "OPT-OUT_now", "\x00stop\x1f", "\tA\nB\r",
		"can't stop won't stop", "~!@#$%^&*()", "123 ABC xyz",
	} {
		require.Equal(t, normalizeFullPipeline(text), Normalize(text), "%q", text)
	}
}

// normalizeFullPipeline normalises text with the full Unicode pipeline, skipping the
// ASCII shortcut.
func normalizeFullPipeline(text string) string {
	sc := getClassifyScratch()
	defer putClassifyScratch(sc)
	// A leading non-ASCII ignorable character forces the full pipeline and
	// is dropped by it.
	return string(sc.normalize("\u200b" + text))
}

func TestClassifyDoesNotAllocate(t *testing.T) { // not parallel: AllocsPerRun forbids it
	c := newDefaultClassifier(t)
	// With its scratch buffers warm, classifying allocates nothing. (The
	// pool that holds them is not measured: under -race it drops items on
	// purpose.)
	sc := getClassifyScratch()
	for _, text := range []string{
		"STOP", "please stop texting me", "when does the sale stop?", "Who is this? STOP",
		"ＳＴＯＰ", "请退订", "ขอยกเลิกค่ะ", "Hủy đăng ký", "İPTAL", "إلغـاء",
		"S T O P", "S. T. O. P.", "退 订", "I A M", "nicht mehr schreiben", "отписаться", "ఆపు",
		"не присылайте мне сообщения", "开始",
	} {
		c.classifyWith(sc, text, nil)
		allocs := testing.AllocsPerRun(50, func() { c.classifyWith(sc, text, nil) })
		require.Zero(t, allocs, "%q", text)
	}
}

func TestClassifyConcurrent(t *testing.T) {
	t.Parallel()

	c := newDefaultClassifier(t)
	texts := map[string]Class{
		"STOP": ClassOptOut, "please stop texting me": ClassOptOut, "ＳＴＯＰ": ClassOptOut,
		"yes": ClassOptIn, "help": ClassHelp, "when does the sale stop?": ClassNone,
		"我要退订，谢谢": ClassOptOut, "İPTAL": ClassNone,
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for text, want := range texts {
					if got := c.Classify(text); got != want {
						t.Errorf("Classify(%q) = %q, want %q", text, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkClassify(b *testing.B) {
	c := newDefaultClassifier(b)
	for _, bm := range []struct{ name, text string }{
		{"exact", "STOP"},
		{"intent", "Hi, please stop sending me these messages, thanks"},
		{"none", "When does the sale end? I'd like two of the blue shirts"},
		{"unicode", "ＳＴＯＰ 🛑"},
		{"spelled", "S. T. O. P."},
		{"russian", "не присылайте мне сообщения"},
		{"thai", "ขอยกเลิกค่ะ"},
		{"long", strings.Repeat("I love your shop. ", 50)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(bm.text)
			}
		})
	}
}

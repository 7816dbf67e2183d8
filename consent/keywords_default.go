package consent

// The default keyword lists (DefaultKeywords). Each entry must be the whole
// message to match, so only words that, sent alone in reply to a marketing
// message, can mean nothing but the class belong here. Entries are
// normalised when a Classifier is built: case, width, zero-width characters
// and surrounding punctuation do not matter, and "OPT-OUT" is "opt out".
//
// Diacritics do matter (Normalize keeps them), so the unaccented spellings
// that people type without an input method are listed too where they are
// unambiguous: "huy" (the Vietnamese SMS standard for hủy) and "arret", but
// not "dung", which could be dừng (stop) as well as dùng (use) or đúng (right).

var defaultOptOut = []string{
	// US carriers (CTIA), the FCC 2024 revocation rule, DESIGN §4, and
	// WhatsApp's "Stop promotions" marketing button.
	"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "UNSUB", "CANCEL", "END", "QUIT", "REVOKE",
	"OPTOUT", "OPT OUT", "OPT-OUT", "REMOVE", "STOP PROMOTIONS",
	// Chinese: unsubscribe (退订, the SMS standard with TD), cancel
	// subscription, cancel, stop, stop sending, don't send again.
	"TD", "退订", "退訂", "取消订阅", "取消訂閱", "取消", "停止", "停止发送", "停止發送",
	"不要再发", "不要再發", "别再发", "別再發",
	// Malay and Indonesian: stop, stop subscribing, cancel.
	"BERHENTI", "HENTI", "BERHENTI LANGGANAN", "BERHENTI BERLANGGANAN", "BERHENTI MELANGGAN",
	"BATAL", "BATALKAN",
	// Thai: cancel, stop, stop sending, cancel the subscription, stop
	// receiving news (the operators' *137 wording), no need to send again,
	// stop receiving (messages), as in Crier's footer, stop sending messages.
	"ยกเลิก", "หยุด", "หยุดส่ง", "ยกเลิกการสมัคร", "ยกเลิกรับข่าวสาร", "ไม่ต้องส่งมาอีก",
	"เลิกรับ", "เลิกรับข้อความ", "หยุดส่งข้อความ",
	// Vietnamese: cancel (both tone placements, and unaccented), cancel the
	// registration, stop, refuse.
	"HỦY", "HUỶ", "HUY", "HỦY ĐĂNG KÝ", "HUỶ ĐĂNG KÝ", "HUY DANG KY", "DỪNG", "DỪNG LẠI",
	"NGỪNG", "NGƯNG", "NGUNG", "TỪ CHỐI", "TU CHOI",
	// French.
	"ARRET", "ARRÊT", "ARRÊTE", "ARRÊTER", "ARRÊTEZ", "ARRETEZ", "DÉSABONNER", "DESABONNER",
	"DÉSABONNEMENT", "DÉSINSCRIRE", "DESINSCRIRE", "DÉSINSCRIPTION", "ANNULER",
	// Spanish; "darte de baja" is the call to action of Crier's footer.
	"BAJA", "ALTO", "CANCELAR", "PARAR", "DETENER", "DAR DE BAJA", "DARME DE BAJA",
	"DARTE DE BAJA", "DARSE DE BAJA", "DESUSCRIBIR", "DESUSCRIBIRME", "BASTA", "FIN",
	// Portuguese.
	"PARE", "SAIR", "DESCADASTRAR", "DESCADASTRE", "REMOVER", "CHEGA",
	// German: stop, unsubscribe (also as in Crier's footer, "um sich abzumelden").
	"STOPP", "ABMELDEN", "ABMELDUNG", "ABBESTELLEN", "AUSTRAGEN", "SICH ABMELDEN",
	"SICH ABZUMELDEN",
	// Italian; "annullare l'iscrizione" is the call to action of Crier's footer.
	"ANNULLA", "CANCELLA", "CANCELLAMI", "DISISCRIVI", "DISISCRIVIMI", "RIMUOVI", "RIMUOVIMI",
	"ANNULLA L'ISCRIZIONE", "ANNULLARE L'ISCRIZIONE",
	// Arabic: cancel (with and without hamza), unsubscribe, stop.
	"إلغاء", "الغاء", "إلغاء الاشتراك", "الغاء الاشتراك", "إيقاف", "ايقاف", "توقف", "أوقف", "اوقف",
	// Hindi, in Devanagari and romanised: stop it, unsubscribe, end the
	// subscription (Crier's footer), don't send.
	"बंद", "बंद करो", "बंद करें", "बंद कीजिए", "रोकें", "रोको", "सदस्यता रद्द करें",
	"सदस्यता समाप्त", "सदस्यता समाप्त करें", "सदस्यता समाप्त करो", "सदस्यता समाप्त करना",
	"मत भेजो", "मत भेजिए", "मत भेजें", "BAND KARO", "MAT BHEJO",
	// Other languages of India, each an imperative of stop (or "shut it")
	// that cannot mean wait or closed alone. Telugu: stop, please stop.
	"ఆపు", "ఆపండి",
	// Tamil: stop, please stop, stop (polite).
	"நிறுத்து", "நிறுத்துங்கள்", "நிறுத்தவும்",
	// Bengali: stop (polite, familiar), shut it (polite, familiar).
	"থামুন", "থামো", "বন্ধ করুন", "বন্ধ করো",
	// Marathi: stop it, shut it (थांबा alone also means "wait").
	"थांबवा", "बंद करा",
	// Gujarati: stop, halt, shut it.
	"અટકાવો", "રોકો", "બંધ કરો",
	// Kannada: stop (polite, familiar).
	"ನಿಲ್ಲಿಸಿ", "ನಿಲ್ಲಿಸು",
	// Malayalam: stop, also in the older chillu spelling with a joiner
	// (which Normalize drops).
	"നിർത്തുക", "നിർത്തൂ", "നിര്\u200dത്തുക", "നിര്\u200dത്തൂ",
	// Punjabi (Gurmukhi): stop, shut it.
	"ਰੋਕੋ", "ਬੰਦ ਕਰੋ",
	// Urdu: shut it (familiar, polite), stop.
	"بند کرو", "بند کریں", "روکو", "روکیں",
	// Turkish: RET (the opt-out word of the İYS, Turkey's commercial message
	// register), unsubscribe, as in Crier's footer. "İptal" alone is left
	// out: it is as likely to be about an order.
	"RET", "ABONELİKTEN ÇIK", "ABONELİKTEN ÇIKMAK", "ABONELİKTEN ÇIKAR",
	"ABONELİKTEN ÇIKARIN",
	// Russian: stop, unsubscribe (the verb of Crier's footer), unsubscription.
	"СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА",
	// Tagalog: stop, please stop, I don't want any more.
	"TIGIL", "ITIGIL", "HINTO", "IHINTO", "PAKITIGIL", "AYOKO NA",
}

// defaultOptIn holds START and yes, and the local word for START of every
// language Crier replies in: its confirmations say "reply START", and people
// answer in their own language. Each is a word that, sent alone after a STOP
// confirmation, can only mean start or subscribe again.
var defaultOptIn = []string{
	"START", "YES", "UNSTOP", "SUBSCRIBE", "RESUBSCRIBE", "OPT IN",
	// Spanish (alta is the opposite of baja), Italian, French, Portuguese,
	// German, Malay and Indonesian: yes.
	"ALTA", "SÍ", "SI", "OUI", "SIM", "JA", "YA", "LANGGAN",
	// Start, and subscribe again.
	"EMPEZAR", "COMENZAR", "INICIAR", "SUSCRIBIRME", // es
	"COMEÇAR", "COMECAR", "INSCREVER", // pt (iniciar as in es)
	"DÉMARRER", "DEMARRER", "COMMENCER", "RÉABONNER", "REABONNER", // fr
	"ANMELDEN", "STARTEN", // de
	"INIZIA", "INIZIARE", "ISCRIVIMI", // it
	"MULAI", "BERLANGGANAN", // id
	"MULA", "MULAKAN", // ms
	"เริ่ม", "สมัครรับ", // th
	"BẮT ĐẦU", "BAT DAU", "ĐĂNG KÝ LẠI", // vi
	"开始", "開始", "订阅", "訂閱", "重新订阅", "重新訂閱", // zh, zh-Hant
	"ابدأ", "ابدا", "اشترك", // ar
	"शुरू", "शुरू करें", "शुरू करो", "SHURU", // hi
	"BAŞLA", "BASLA", "BAŞLAT", "ABONE OL", // tr
	"СТАРТ", "НАЧАТЬ", "ПОДПИСАТЬСЯ", // ru
}

var defaultHelp = []string{
	"HELP", "INFO",
	"AYUDA", "AIDE", "AJUDA", "HILFE", "AIUTO", "BANTUAN", "TULONG",
	"帮助", "幫助", "ช่วยเหลือ", "TRỢ GIÚP", "TRO GIUP", "مساعدة", "मदद",
}

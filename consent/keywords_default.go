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
	// receiving news (the operators' *137 wording), no need to send again.
	"ยกเลิก", "หยุด", "หยุดส่ง", "ยกเลิกการสมัคร", "ยกเลิกรับข่าวสาร", "ไม่ต้องส่งมาอีก",
	// Vietnamese: cancel (both tone placements, and unaccented), cancel the
	// registration, stop, refuse.
	"HỦY", "HUỶ", "HUY", "HỦY ĐĂNG KÝ", "HUỶ ĐĂNG KÝ", "HUY DANG KY", "DỪNG", "DỪNG LẠI",
	"NGỪNG", "NGƯNG", "NGUNG", "TỪ CHỐI", "TU CHOI",
	// French.
	"ARRET", "ARRÊT", "ARRÊTE", "ARRÊTER", "ARRÊTEZ", "ARRETEZ", "DÉSABONNER", "DESABONNER",
	"DÉSABONNEMENT", "DÉSINSCRIRE", "DESINSCRIRE", "DÉSINSCRIPTION", "ANNULER",
	// Spanish.
	"BAJA", "ALTO", "CANCELAR", "PARAR", "DETENER", "DAR DE BAJA", "DARME DE BAJA",
	"DESUSCRIBIR", "DESUSCRIBIRME", "BASTA", "FIN",
	// Portuguese.
	"PARE", "SAIR", "DESCADASTRAR", "DESCADASTRE", "REMOVER", "CHEGA",
	// German.
	"STOPP", "ABMELDEN", "ABMELDUNG", "ABBESTELLEN", "AUSTRAGEN",
	// Italian.
	"ANNULLA", "CANCELLA", "CANCELLAMI", "DISISCRIVI", "DISISCRIVIMI", "RIMUOVI", "RIMUOVIMI",
	// Arabic: cancel (with and without hamza), unsubscribe, stop.
	"إلغاء", "الغاء", "إلغاء الاشتراك", "الغاء الاشتراك", "إيقاف", "ايقاف", "توقف", "أوقف", "اوقف",
	// Hindi, in Devanagari and romanised: stop it, unsubscribe, don't send.
	"बंद", "बंद करो", "बंद करें", "बंद कीजिए", "रोकें", "रोको", "सदस्यता रद्द करें", "मत भेजो",
	"मत भेजिए", "BAND KARO", "MAT BHEJO",
	// Tagalog: stop, please stop, I don't want any more.
	"TIGIL", "ITIGIL", "HINTO", "IHINTO", "PAKITIGIL", "AYOKO NA",
}

var defaultOptIn = []string{
	"START", "YES", "UNSTOP", "SUBSCRIBE", "RESUBSCRIBE", "OPT IN",
	// Spanish (alta is the opposite of baja), Italian, French, Portuguese,
	// German, Malay and Indonesian.
	"ALTA", "SÍ", "SI", "OUI", "SIM", "JA", "YA", "MULAI", "LANGGAN",
	// Chinese: subscribe.
	"订阅", "訂閱",
}

var defaultHelp = []string{
	"HELP", "INFO",
	"AYUDA", "AIDE", "AJUDA", "HILFE", "AIUTO", "BANTUAN", "TULONG",
	"帮助", "幫助", "ช่วยเหลือ", "TRỢ GIÚP", "TRO GIUP", "مساعدة", "मदद",
}

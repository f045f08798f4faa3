//! The generator's data: for each nationality the names, streets, cities,
//! states and number formats the API uses, the API's timezone list, and the
//! words of usernames and passwords. Kept apart from the generator so that
//! both can be read; the generator draws from these in table order, so any
//! edit here changes the users a seed gives (the pinned test says so).

use super::{Nationality, PostcodeFormat, Table, Titles};

const ENGLISH: Titles = Titles {
    male: "Mr",
    female: &["Mrs", "Ms", "Miss"],
};
/// The API titles French and Swiss users in French.
const FRENCH: Titles = Titles {
    male: "Monsieur",
    female: &["Madame", "Mademoiselle"],
};

#[rustfmt::skip]
const TURKISH_PLACES: Table = &[
    "İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Konya", "Gaziantep", "Şanlıurfa",
    "Eskişehir", "Diyarbakır", "Kahramanmaraş", "Muğla",
];

#[rustfmt::skip]
pub(super) const NATS: &[Nationality] = &[
    Nationality {
        code: "AU",
        country: "Australia",
        titles: ENGLISH,
        male: &[
            "Jack", "Oliver", "William", "Noah", "Lachlan", "Cooper", "Riley", "Hamish",
            "Mitchell", "Bailey", "Kyle", "Lucas",
        ],
        female: &[
            "Charlotte", "Olivia", "Mia", "Ruby", "Matilda", "Chloe", "Isabella", "Zara", "Jasmine",
            "Kayla", "Tahlia", "Georgia",
        ],
        last: &[
            "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson",
            "Martin", "White", "Anderson", "Walker", "Thompson", "Kelly", "Ryan",
        ],
        streets: &[
            "George St", "Pitt St", "Rundle Mall", "Swanston St", "Hay St", "Queen St",
            "Adelaide St", "Bourke St", "Lakeshore Rd", "Dalhousie St",
        ],
        cities: &[
            "Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Hobart", "Darwin", "Canberra",
            "Gold Coast", "Newcastle", "Wollongong", "Geelong",
        ],
        states: &[
            "New South Wales", "Victoria", "Queensland", "Western Australia", "South Australia",
            "Tasmania", "Northern Territory", "Australian Capital Territory",
        ],
        postcode: PostcodeFormat::Number(800, 7470),
        phone: "0%-####-####",
        cell: "04##-###-###",
        id: Some(("TFN", "#########")),
    },
    Nationality {
        code: "BR",
        country: "Brazil",
        titles: ENGLISH,
        male: &[
            "João", "Gabriel", "Lucas", "Matheus", "Pedro", "Guilherme", "Rafael", "Felipe",
            "Antônio", "Raimundo", "Caio", "Vitório",
        ],
        female: &[
            "Ana", "Maria", "Júlia", "Beatriz", "Larissa", "Letícia", "Luíza", "Fernanda",
            "Mônica", "Cecília", "Tâmara", "Débora",
        ],
        last: &[
            "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
            "Lima", "Gomes", "Araújo", "Conceição", "Gonçalves", "Simões", "Magalhães",
        ],
        streets: &[
            "Rua Dois", "Rua São Jorge", "Rua da Paz", "Avenida Brasil", "Rua Sete de Setembro",
            "Rua Tiradentes", "Rua Quinze de Novembro", "Rua Santa Rita", "Rua Castro Alves",
            "Rua Bela Vista",
        ],
        cities: &[
            "São Paulo", "Rio de Janeiro", "Belo Horizonte", "Salvador", "Fortaleza", "Curitiba",
            "Manaus", "Recife", "Goiânia", "Belém", "Florianópolis", "Maceió",
        ],
        states: &[
            "São Paulo", "Rio de Janeiro", "Minas Gerais", "Bahia", "Ceará", "Paraná", "Amazonas",
            "Pernambuco", "Goiás", "Pará", "Santa Catarina", "Alagoas",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "(##) ####-####",
        cell: "(##) 9####-####",
        id: Some(("CPF", "###.###.###-##")),
    },
    Nationality {
        code: "CA",
        country: "Canada",
        titles: ENGLISH,
        male: &[
            "Liam", "Noah", "William", "Benjamin", "Logan", "Félix", "Samuel", "Owen", "Nathan",
            "Justin", "Mathis", "Zachary",
        ],
        female: &[
            "Olivia", "Emma", "Charlotte", "Chloe", "Léa", "Madison", "Ava", "Abigail", "Maya",
            "Rosalie", "Jade", "Brooklyn",
        ],
        last: &[
            "Roy", "Tremblay", "Gagnon", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie",
            "Fortin", "Wilson", "MacDonald", "Campbell", "Martin", "Li", "Singh",
        ],
        streets: &[
            "King St", "Queen St", "Dufferin St", "Rue Sainte-Catherine", "Parliament St",
            "Grand Ave", "Brock Rd", "Victoria Ave", "Bay Ave", "Arctic Way",
        ],
        cities: &[
            "Toronto", "Montréal", "Vancouver", "Calgary", "Edmonton", "Ottawa", "Winnipeg",
            "Québec", "Halifax", "Regina", "Saskatoon", "Victoria",
        ],
        states: &[
            "Ontario", "Québec", "British Columbia", "Alberta", "Manitoba", "Nova Scotia",
            "Saskatchewan", "New Brunswick", "Newfoundland and Labrador", "Prince Edward Island",
            "Yukon", "Nunavut",
        ],
        postcode: PostcodeFormat::Text(&["A#A #A#"]),
        phone: "%##-###-####",
        cell: "%##-###-####",
        id: Some(("SIN", "### ### ###")),
    },
    Nationality {
        code: "CH",
        country: "Switzerland",
        titles: FRENCH,
        male: &[
            "Noah", "Luca", "Leon", "Matteo", "Elias", "Nicolas", "Jonas", "Loïc", "Rémy", "Gian",
            "Reto", "Urs",
        ],
        female: &[
            "Mia", "Emma", "Léa", "Lina", "Lara", "Anna", "Chiara", "Noémie", "Zoé", "Andrea",
            "Ursula", "Mélanie",
        ],
        last: &[
            "Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Meyer",
            "Steiner", "Fischer", "Gerber", "Brunner", "Baumann", "Favre", "Rochat",
        ],
        streets: &[
            "Bahnhofstrasse", "Rue de la Gare", "Dorfstrasse", "Grand-Rue", "Rue du Centre",
            "Via Cantonale", "Kirchweg", "Rue du Lac", "Seestrasse", "Chemin des Vignes",
        ],
        cities: &[
            "Zürich", "Genève", "Basel", "Lausanne", "Bern", "Winterthur", "Luzern", "St. Gallen",
            "Lugano", "Biel/Bienne", "Neuchâtel", "Fribourg",
        ],
        states: &[
            "Zürich", "Genève", "Basel-Stadt", "Vaud", "Bern", "Luzern", "St. Gallen", "Ticino",
            "Neuchâtel", "Fribourg", "Graubünden", "Valais",
        ],
        postcode: PostcodeFormat::Number(1000, 9658),
        phone: "0%# ### ## ##",
        cell: "07# ### ## ##",
        id: Some(("AVS", "756.####.####.##")),
    },
    Nationality {
        code: "DE",
        country: "Germany",
        titles: ENGLISH,
        male: &[
            "Jürgen", "Lukas", "Maximilian", "Felix", "Jonas", "Leon", "Paul", "Matthias", "Uwe",
            "Günter", "Björn", "Horst",
        ],
        female: &[
            "Lena", "Sophie", "Hannah", "Anja", "Sabine", "Jutta", "Käthe", "Jördis", "Brigitte",
            "Ursula", "Mareike", "Lieselotte",
        ],
        last: &[
            "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schulz", "Hoffmann", "Schäfer", "Köhler", "Krüger", "Weiß", "Böhm",
        ],
        streets: &[
            "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Mühlenweg",
            "Lindenstraße", "Am Sportplatz", "Königsallee", "Birkenweg", "Wiesenstraße",
        ],
        cities: &[
            "Berlin", "München", "Köln", "Düsseldorf", "Nürnberg", "Lübeck", "Göttingen",
            "Würzburg", "Saarbrücken", "Osnabrück", "Leipzig", "Freiburg im Breisgau",
        ],
        states: &[
            "Berlin", "Bayern", "Nordrhein-Westfalen", "Schleswig-Holstein", "Niedersachsen",
            "Saarland", "Sachsen", "Baden-Württemberg", "Thüringen", "Hessen",
            "Mecklenburg-Vorpommern", "Rheinland-Pfalz",
        ],
        postcode: PostcodeFormat::Number(1067, 99998),
        phone: "0%##-#######",
        cell: "017#-#######",
        id: Some(("SVNR", "## ###### A ###")),
    },
    Nationality {
        code: "DK",
        country: "Denmark",
        titles: ENGLISH,
        male: &[
            "William", "Noah", "Oscar", "Lucas", "Emil", "Frederik", "Mikkel", "Søren", "Jørgen",
            "Magnus", "Rasmus", "Asger",
        ],
        female: &[
            "Emma", "Ida", "Freja", "Clara", "Sofie", "Laura", "Mathilde", "Signe", "Astrid",
            "Kirstine", "Line", "Mette",
        ],
        last: &[
            "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
            "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen",
            "Thomsen",
        ],
        streets: &[
            "Vestergade", "Østergade", "Nørregade", "Søndergade", "Strøget", "Algade", "Bredgade",
            "Kongevejen", "Møllevej", "Skovvej",
        ],
        cities: &[
            "København", "Aarhus", "Odense", "Aalborg", "Esbjerg", "Randers", "Kolding", "Horsens",
            "Vejle", "Roskilde", "Herning", "Silkeborg",
        ],
        states: &[
            "Hovedstaden", "Midtjylland", "Syddanmark", "Nordjylland", "Sjælland",
        ],
        postcode: PostcodeFormat::Number(1000, 9990),
        phone: "%#######",
        cell: "%#######",
        id: Some(("CPR", "######-####")),
    },
    Nationality {
        code: "ES",
        country: "Spain",
        titles: ENGLISH,
        male: &[
            "Alejandro", "Hugo", "Álvaro", "Javier", "Sergio", "Iván", "Adrián", "Rubén", "Jesús",
            "Ángel", "Raúl", "Gonzalo",
        ],
        female: &[
            "Lucía", "María", "Paula", "Sofía", "Carmen", "Nerea", "Inés", "Aitana", "Noelia",
            "Begoña", "Montserrat", "Ángela",
        ],
        last: &[
            "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
            "Gómez", "Martín", "Jiménez", "Ruiz", "Muñoz", "Iglesias", "Ibáñez",
        ],
        streets: &[
            "Calle Mayor", "Calle de Alcalá", "Avenida de Andalucía", "Calle de la Luna",
            "Paseo de Extremadura", "Calle de Atocha", "Ronda de Valencia", "Calle del Barquillo",
            "Avenida del Puerto", "Calle de Segovia",
        ],
        cities: &[
            "Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Málaga", "Córdoba",
            "Alcalá de Henares", "Gijón", "Vigo", "Cádiz", "Almería",
        ],
        states: &[
            "Comunidad de Madrid", "Cataluña", "Comunidad Valenciana", "Andalucía", "Aragón",
            "Asturias", "Galicia", "Castilla y León", "País Vasco", "Región de Murcia",
            "Islas Baleares", "Navarra",
        ],
        postcode: PostcodeFormat::Number(1001, 52080),
        phone: "9##-###-###",
        cell: "6##-###-###",
        id: Some(("DNI", "########-A")),
    },
    Nationality {
        code: "FI",
        country: "Finland",
        titles: ENGLISH,
        male: &[
            "Eetu", "Väinö", "Onni", "Aleksi", "Juho", "Mikko", "Topias", "Elias", "Eemil",
            "Lauri", "Ville", "Niilo",
        ],
        female: &[
            "Aino", "Eevi", "Siiri", "Helmi", "Pihla", "Venla", "Minttu", "Sanni", "Ella", "Aada",
            "Iida", "Lotta",
        ],
        last: &[
            "Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine",
            "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Saarinen", "Lähteenmäki",
            "Kärkkäinen", "Hyvönen",
        ],
        streets: &[
            "Hämeenkatu", "Mannerheimintie", "Pyynikintie", "Aleksanterinkatu", "Itsenäisyydenkatu",
            "Mäkelänkatu", "Pispalan Valtatie", "Tehtaankatu", "Rautatienkatu", "Esplanadi",
        ],
        cities: &[
            "Helsinki", "Espoo", "Tampere", "Vantaa", "Oulu", "Turku", "Jyväskylä", "Lahti",
            "Kuopio", "Pori", "Hämeenlinna", "Seinäjoki",
        ],
        states: &[
            "Uusimaa", "Pirkanmaa", "Pohjois-Pohjanmaa", "Varsinais-Suomi", "Keski-Suomi",
            "Päijät-Häme", "Pohjois-Savo", "Satakunta", "Kanta-Häme", "Etelä-Pohjanmaa", "Lappi",
            "Kainuu",
        ],
        postcode: PostcodeFormat::Number(100, 99999),
        phone: "0%-###-###",
        cell: "04#-###-##-##",
        id: Some(("HETU", "######-###A")),
    },
    Nationality {
        code: "FR",
        country: "France",
        titles: FRENCH,
        male: &[
            "Hugo", "Lucas", "Théo", "Louis", "Nathan", "Mathéo", "Jérôme", "Gaël", "Noé", "Léo",
            "Clément", "Maël",
        ],
        female: &[
            "Chloé", "Léa", "Manon", "Inès", "Camille", "Océane", "Zoé", "Maëlle", "Éloïse",
            "Margaux", "Célia", "Noémie",
        ],
        last: &[
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau", "Lefèvre", "Girard", "Bonnet", "Mercier", "Fontaine",
        ],
        streets: &[
            "Rue de la Mairie", "Rue du Bât-d'Argent", "Place de la Libération",
            "Rue Pierre-Delore", "Avenue Jean-Jaurès", "Rue des Écoles", "Rue de l'Église",
            "Quai Chauveau", "Rue Dugas-Montbel", "Boulevard de la Duchère",
        ],
        cities: &[
            "Paris", "Lyon", "Marseille", "Nantes", "Toulouse", "Saint-Étienne", "Besançon",
            "Orléans", "Nîmes", "Rennes", "Grenoble", "Montpellier",
        ],
        states: &[
            "Paris", "Rhône", "Bouches-du-Rhône", "Loire-Atlantique", "Haute-Garonne", "Loire",
            "Doubs", "Loiret", "Gard", "Ille-et-Vilaine", "Isère", "Hérault",
        ],
        postcode: PostcodeFormat::Number(1000, 98799),
        phone: "0%-##-##-##-##",
        cell: "06-##-##-##-##",
        id: Some(("INSEE", "%## ## ## ### ### ##")),
    },
    Nationality {
        code: "GB",
        country: "United Kingdom",
        titles: ENGLISH,
        male: &[
            "Oliver", "Harry", "George", "Jack", "Charlie", "Alfie", "Thomas", "Oscar", "Liam",
            "Ethan", "Rhys", "Callum",
        ],
        female: &[
            "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Chloe", "Ellie",
            "Freya", "Eleanor", "Siobhan",
        ],
        last: &[
            "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans", "Thomas",
            "Roberts", "Walker", "Wright", "Hughes", "Edwards", "O'Brien",
        ],
        streets: &[
            "High Street", "Station Road", "Church Lane", "Victoria Road", "Manor Road",
            "Queensway", "Mill Lane", "The Green", "Richmond Road", "Park Avenue",
        ],
        cities: &[
            "London", "Manchester", "Leeds", "Bristol", "Sheffield", "York", "Oxford", "Cambridge",
            "Cardiff", "Aberdeen", "Brighton and Hove", "Newcastle upon Tyne",
        ],
        states: &[
            "Greater London", "Greater Manchester", "West Yorkshire", "Somerset", "South Yorkshire",
            "North Yorkshire", "Oxfordshire", "Cambridgeshire", "South Glamorgan", "Grampian",
            "East Sussex", "Tyne and Wear",
        ],
        postcode: PostcodeFormat::Text(&["AA%A %AA", "A% %AA", "AA% %AA", "A%% %AA", "AA%% %AA"]),
        phone: "01### ######",
        cell: "07### ######",
        id: Some(("NINO", "AA ## ## ## A")),
    },
    Nationality {
        code: "IE",
        country: "Ireland",
        titles: ENGLISH,
        male: &[
            "Seán", "Conor", "Cian", "Oisín", "Darragh", "Liam", "Patrick", "Aidan", "Ciarán",
            "Eoin", "Niall", "Dónal",
        ],
        female: &[
            "Aoife", "Saoirse", "Niamh", "Caoimhe", "Róisín", "Siobhán", "Clodagh", "Ciara",
            "Áine", "Orla", "Emma", "Sinéad",
        ],
        last: &[
            "Murphy", "Kelly", "O'Sullivan", "Walsh", "Smith", "O'Brien", "Byrne", "Ryan",
            "O'Connor", "O'Neill", "Doyle", "McCarthy", "Gallagher", "Kennedy", "Ó Súilleabháin",
        ],
        streets: &[
            "Main Street", "Church Street", "O'Connell Street", "Grafton Street", "Patrick Street",
            "Shop Street", "The Mall", "Green Street", "Castle Street", "Strand Road",
        ],
        cities: &[
            "Dublin", "Cork", "Limerick", "Galway", "Waterford", "Drogheda", "Kilkenny", "Sligo",
            "Tralee", "Ennis", "Athlone", "Wexford",
        ],
        states: &[
            "Dublin", "Cork", "Limerick", "Galway", "Waterford", "Louth", "Kilkenny", "Sligo",
            "Kerry", "Clare", "Westmeath", "Wexford",
        ],
        postcode: PostcodeFormat::Text(&["A## A###", "A## AA##", "A%# A#A#"]),
        phone: "0%#-###-####",
        cell: "08#-###-####",
        id: None,
    },
    Nationality {
        code: "IN",
        country: "India",
        titles: ENGLISH,
        male: &[
            "Aarav", "Vihaan", "Aditya", "Arjun", "Sai", "Reyansh", "Ishaan", "Rohan", "Karan",
            "Vikram", "Pranav", "Siddharth",
        ],
        female: &[
            "Aadhya", "Ananya", "Diya", "Saanvi", "Isha", "Priya", "Kavya", "Meera", "Nisha",
            "Pooja", "Riya", "Shreya",
        ],
        last: &[
            "Sharma", "Verma", "Patel", "Reddy", "Nair", "Iyer", "Gupta", "Singh", "Kumar", "Das",
            "Chopra", "Mehta", "Rao", "Bhat", "Kulkarni",
        ],
        streets: &[
            "MG Road", "Nehru Road", "Gandhi Marg", "Station Road", "Park Street", "Brigade Road",
            "Linking Road", "Anna Salai", "Rajpath", "Marine Drive",
        ],
        cities: &[
            "Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Kolkata", "Pune", "Ahmedabad",
            "Jaipur", "Lucknow", "Kochi", "Indore",
        ],
        states: &[
            "Maharashtra", "Delhi", "Karnataka", "Telangana", "Tamil Nadu", "West Bengal",
            "Gujarat", "Rajasthan", "Uttar Pradesh", "Kerala", "Madhya Pradesh", "Punjab",
        ],
        postcode: PostcodeFormat::Number(110_001, 855_126),
        phone: "%#########",
        cell: "9#########",
        id: None,
    },
    Nationality {
        code: "IR",
        country: "Iran",
        titles: ENGLISH,
        male: &[
            "محمد", "علی", "حسین", "رضا", "امیرحسین", "مهدی", "آرین", "سینا", "پارسا", "کیان",
            "بردیا", "محمدامین",
        ],
        female: &[
            "فاطمه", "زهرا", "مریم", "نرگس", "ستایش", "یاسمن", "هستی", "آیلین", "کیمیا", "نازنین",
            "ریحانه", "پرنیا",
        ],
        last: &[
            "احمدی", "محمدی", "حسینی", "رضایی", "کریمی", "موسوی", "جعفری", "صادقی", "رحیمی", "نوری",
            "کامروا", "یزدانی", "سلطانی", "قاسمی",
        ],
        streets: &[
            "شهید کبیری طامه", "پارک 17 شهریور", "میدان انقلاب", "شهید استاد حسن بنا", "آزادی",
            "ولیعصر", "فلسطین", "کارگر شمالی", "شریعتی", "مطهری",
        ],
        cities: &[
            "تهران", "مشهد", "اصفهان", "کرج", "شیراز", "تبریز", "قم", "اهواز", "کرمانشاه", "رشت",
            "یزد", "همدان",
        ],
        states: &[
            "تهران", "خراسان رضوی", "اصفهان", "البرز", "فارس", "آذربایجان شرقی", "قم", "خوزستان",
            "کرمانشاه", "گیلان", "یزد", "همدان",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "0%#-########",
        cell: "09##-###-####",
        id: None,
    },
    Nationality {
        code: "MX",
        country: "Mexico",
        titles: ENGLISH,
        male: &[
            "Santiago", "Mateo", "Sebastián", "Leonardo", "Emiliano", "Diego", "Iker", "Rodrigo",
            "Joaquín", "Jesús", "Gerardo", "Ramón",
        ],
        female: &[
            "Sofía", "Valentina", "Regina", "Ximena", "Camila", "María José", "Guadalupe",
            "Fernanda", "Renata", "Itzel", "Citlali", "Marisol",
        ],
        last: &[
            "Hernández", "García", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez",
            "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Zúñiga",
        ],
        streets: &[
            "Avenida Juárez", "Calle Hidalgo", "Calle Morelos", "Avenida Reforma", "Calle Allende",
            "Calzada Zaragoza", "Avenida Madero", "Calle Guerrero", "Periférico Sur",
            "Calle Niños Héroes",
        ],
        cities: &[
            "Ciudad de México", "Guadalajara", "Monterrey", "Puebla", "Tijuana", "León", "Mérida",
            "Querétaro", "San Luis Potosí", "Oaxaca de Juárez", "Cancún", "Culiacán",
        ],
        states: &[
            "Ciudad de México", "Jalisco", "Nuevo León", "Puebla", "Baja California", "Guanajuato",
            "Yucatán", "Querétaro", "San Luis Potosí", "Oaxaca", "Quintana Roo", "Sinaloa",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "(%##) ### ####",
        cell: "(%##) ### ####",
        id: Some(("NSS", "## ## ## #### #")),
    },
    Nationality {
        code: "NL",
        country: "Netherlands",
        titles: ENGLISH,
        male: &[
            "Daan", "Sem", "Bram", "Lars", "Thijs", "Ruben", "Jeroen", "Joost", "Sjoerd", "Wouter",
            "Gijs", "Teun",
        ],
        female: &[
            "Emma", "Julia", "Sanne", "Fenna", "Lotte", "Anouk", "Femke", "Marloes", "Ilse",
            "Noor", "Mirthe", "Joyce",
        ],
        last: &[
            "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit",
            "Meijer", "de Boer", "Mulder", "Bos", "Vos", "Peters", "van Leeuwen",
        ],
        streets: &[
            "Kerkstraat", "Schoolstraat", "Molenweg", "Dorpsstraat", "Stationsweg", "Julianastraat",
            "Beatrixlaan", "Prinsengracht", "Oranjestraat", "Nieuwstraat",
        ],
        cities: &[
            "Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg",
            "Almere", "Breda", "Nijmegen", "Zwolle", "'s-Hertogenbosch",
        ],
        states: &[
            "Noord-Holland", "Zuid-Holland", "Utrecht", "Noord-Brabant", "Groningen", "Flevoland",
            "Gelderland", "Overijssel", "Limburg", "Friesland", "Drenthe", "Zeeland",
        ],
        postcode: PostcodeFormat::Text(&["%### AA"]),
        phone: "(0%#) ### ####",
        cell: "(06) ########",
        id: Some(("BSN", "#########")),
    },
    Nationality {
        code: "NO",
        country: "Norway",
        titles: ENGLISH,
        male: &[
            "Ørjan", "Håkon", "Jørgen", "Sindre", "Magnus", "Eirik", "Bjørn", "Kåre", "Sivert",
            "Tormod", "Aksel", "Øystein",
        ],
        female: &[
            "Ingrid", "Sigrid", "Åse", "Solveig", "Marte", "Ragnhild", "Kjersti", "Maren", "Tiril",
            "Ylva", "Bodil", "Synnøve",
        ],
        last: &[
            "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
            "Kristiansen", "Jensen", "Karlsen", "Haugen", "Bakken", "Sæther", "Løken", "Strøm",
        ],
        streets: &[
            "Storgata", "Kirkegata", "Bygdøy allé", "Sørkedalsveien", "Trondheimsveien",
            "Hasleveien", "Kongens gate", "Nedre Slottsgate", "Åsveien", "Fjellveien",
        ],
        cities: &[
            "Oslo", "Bergen", "Trondheim", "Stavanger", "Drammen", "Fredrikstad", "Kristiansand",
            "Tromsø", "Sandnes", "Ålesund", "Bodø", "Lillehammer",
        ],
        states: &[
            "Oslo", "Vestland", "Trøndelag", "Rogaland", "Buskerud", "Østfold", "Agder", "Troms",
            "Møre og Romsdal", "Nordland", "Innlandet", "Vestfold",
        ],
        // Oslo's codes start with 0; they stay text so the zero survives.
        postcode: PostcodeFormat::Text(&["0###", "%###"]),
        phone: "%#######",
        cell: "9#######",
        id: Some(("FN", "###########")),
    },
    Nationality {
        code: "NZ",
        country: "New Zealand",
        titles: ENGLISH,
        male: &[
            "Oliver", "Jack", "Leo", "Noah", "George", "Hunter", "Nikau", "Tama", "Manaia", "Finn",
            "Hamish", "Riley",
        ],
        female: &[
            "Isla", "Charlotte", "Amelia", "Olivia", "Harper", "Aroha", "Mere", "Ngaio", "Anahera",
            "Ruby", "Zoe", "Maia",
        ],
        last: &[
            "Smith", "Wilson", "Williams", "Brown", "Taylor", "Jones", "Walker", "Thompson",
            "Ngata", "Te Whata", "Parata", "Robinson", "Harris", "King", "Clark",
        ],
        streets: &[
            "Queen Street", "Lambton Quay", "Cuba Street", "Colombo Street", "Ponsonby Road",
            "Karangahape Road", "Victoria Street", "Riccarton Road", "Great North Road",
            "Hobson Street",
        ],
        cities: &[
            "Auckland", "Wellington", "Christchurch", "Hamilton", "Tauranga", "Dunedin",
            "Palmerston North", "Napier", "Nelson", "Rotorua", "Whangārei", "Invercargill",
        ],
        states: &[
            "Auckland", "Wellington", "Canterbury", "Waikato", "Bay of Plenty", "Otago",
            "Manawatū-Whanganui", "Hawke's Bay", "Nelson", "Northland", "Southland", "Taranaki",
        ],
        postcode: PostcodeFormat::Number(1010, 9893),
        phone: "(0%#)-###-####",
        cell: "(02#)-###-####",
        id: Some(("NHI", "AAA####")),
    },
    Nationality {
        code: "RS",
        country: "Serbia",
        titles: ENGLISH,
        male: &[
            "Nikola", "Luka", "Stefan", "Marko", "Miloš", "Đorđe", "Dušan", "Nemanja", "Vuk",
            "Aleksandar", "Dragoljub", "Žarko",
        ],
        female: &[
            "Milica", "Jelena", "Ana", "Jovana", "Teodora", "Marija", "Sanja", "Dragana",
            "Ljiljana", "Snežana", "Katarina", "Anđela",
        ],
        last: &[
            "Jovanović", "Petrović", "Nikolić", "Marković", "Đorđević", "Stojanović", "Ilić",
            "Stanković", "Pavlović", "Milošević", "Živković", "Todorović", "Kovačević", "Popović",
            "Đukić",
        ],
        streets: &[
            "Knez Mihailova", "Bulevar kralja Aleksandra", "Nemanjina", "Cara Dušana",
            "Karađorđeva", "Zmaj Jovina", "Kneza Miloša", "Takovska", "Vojvode Stepe",
            "Bulevar oslobođenja",
        ],
        cities: &[
            "Beograd", "Novi Sad", "Niš", "Kragujevac", "Subotica", "Zrenjanin", "Pančevo", "Čačak",
            "Kraljevo", "Smederevo", "Leskovac", "Užice",
        ],
        states: &[
            "Beogradski", "Južnobački", "Nišavski", "Šumadijski", "Severnobački", "Srednjebanatski",
            "Južnobanatski", "Moravički", "Raški", "Podunavski", "Jablanički", "Zlatiborski",
        ],
        postcode: PostcodeFormat::Number(11000, 38000),
        phone: "0%#-####-###",
        cell: "06#-####-###",
        id: Some(("SID", "#############")),
    },
    Nationality {
        code: "TR",
        country: "Turkey",
        titles: ENGLISH,
        male: &[
            "Mehmet", "Mustafa", "Ahmet", "Ali", "Hüseyin", "Hasan", "İbrahim", "Yusuf", "Emre",
            "Çağrı", "Oğuz", "Barış",
        ],
        female: &[
            "Ayşe", "Fatma", "Emine", "Hatice", "Zeynep", "Elif", "Şule", "Gülşen", "Özlem",
            "Büşra", "Çiğdem", "Tuğba",
        ],
        last: &[
            "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk", "Aydın",
            "Özdemir", "Arslan", "Doğan", "Kılıç", "Aslan", "Çetin",
        ],
        streets: &[
            "Atatürk Cd", "İstiklal Cd", "Cumhuriyet Cd", "Fatih Sultan Mehmet Cd", "Bağdat Cd",
            "Kuşkavağı Cd", "Necatibey Cd", "Talak Göktepe Cd", "Filistin Cd", "Doktorlar Cd",
        ],
        cities: TURKISH_PLACES,
        // The API's Turkish "states" are provinces named after their capitals.
        states: TURKISH_PLACES,
        postcode: PostcodeFormat::Number(10000, 81999),
        phone: "(%##)-###-####",
        cell: "(5##)-###-####",
        id: Some(("TCKN", "%##########")),
    },
    Nationality {
        code: "UA",
        country: "Ukraine",
        titles: ENGLISH,
        male: &[
            "Олександр", "Андрій", "Богдан", "Дмитро", "Ярослав", "Тарас", "Остап", "Євген",
            "Віталій", "Юрій", "Святослав", "Ілля",
        ],
        female: &[
            "Олена", "Оксана", "Наталія", "Ірина", "Юлія", "Софія", "Дарина", "Мар'яна", "Христина",
            "Ганна", "Людмила", "Ярина",
        ],
        last: &[
            "Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Мельник", "Поліщук",
            "Литвиненко", "Гнатюк", "Савчук", "Дячук", "Зінченко", "Яковенко", "Костенко",
        ],
        streets: &[
            "Хрещатик", "вулиця Шевченка", "вулиця Франка", "проспект Перемоги",
            "вулиця Сагайдачного", "вулиця Лесі Українки", "бульвар Дружби", "вулиця Городоцька",
            "вулиця Січових Стрільців", "вулиця Грушевського",
        ],
        cities: &[
            "Київ", "Харків", "Одеса", "Дніпро", "Львів", "Запоріжжя", "Вінниця", "Полтава",
            "Чернігів", "Житомир", "Івано-Франківськ", "Ужгород",
        ],
        states: &[
            "Київська", "Харківська", "Одеська", "Дніпропетровська", "Львівська", "Запорізька",
            "Вінницька", "Полтавська", "Чернігівська", "Житомирська", "Івано-Франківська",
            "Закарпатська",
        ],
        // Kyiv's codes start with 0 (01001 ...); text keeps the zero.
        postcode: PostcodeFormat::Text(&["0####", "%####"]),
        phone: "(0%#) ###-####",
        cell: "(09#) ###-##-##",
        id: Some(("INN", "##########")),
    },
    Nationality {
        code: "US",
        country: "United States",
        titles: ENGLISH,
        male: &[
            "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
            "Christopher", "Daniel", "Matthew", "Brandon", "Tyler", "Jesse", "Wyatt",
        ],
        female: &[
            "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
            "Sarah", "Karen", "Nancy", "Lisa", "Ashley", "Kimberly", "Brittany", "Megan",
        ],
        last: &[
            "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
            "Rodriguez", "Martinez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Lee",
            "Perez", "Thompson", "O'Connor",
        ],
        streets: &[
            "Main St", "Oak Ridge Ln", "Pecan Acres Ln", "W Sherman Dr", "Valwood Pkwy",
            "Depaul Dr", "Hickory Creek Dr", "Spring St", "Lakeview St", "Daisy Dr",
        ],
        cities: &[
            "Seattle", "Austin", "Denver", "Portland", "Columbus", "Fresno", "Omaha", "Raleigh",
            "Tucson", "Boise", "Saint Paul", "Buffalo",
        ],
        states: &[
            "Washington", "Texas", "Colorado", "Oregon", "Ohio", "California", "Nebraska",
            "North Carolina", "Arizona", "Idaho", "Minnesota", "New York",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "(%##) ###-####",
        cell: "(%##) ###-####",
        id: Some(("SSN", "###-##-####")),
    },
];

/// The API's timezone list; like the API, a user's timezone is drawn from it
/// regardless of nationality.
pub(super) const TIMEZONES: &[(&str, &str)] = &[
    ("-12:00", "Eniwetok, Kwajalein"),
    ("-11:00", "Midway Island, Samoa"),
    ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"),
    ("-8:00", "Pacific Time (US & Canada)"),
    ("-7:00", "Mountain Time (US & Canada)"),
    ("-6:00", "Central Time (US & Canada), Mexico City"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-4:00", "Atlantic Time (Canada), Caracas, La Paz"),
    ("-3:30", "Newfoundland"),
    ("-3:00", "Brazil, Buenos Aires, Georgetown"),
    ("-2:00", "Mid-Atlantic"),
    ("-1:00", "Azores, Cape Verde Islands"),
    ("0:00", "Western Europe Time, London, Lisbon, Casablanca"),
    ("+1:00", "Brussels, Copenhagen, Madrid, Paris"),
    ("+2:00", "Kaliningrad, South Africa"),
    ("+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"),
    ("+3:30", "Tehran"),
    ("+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"),
    ("+4:30", "Kabul"),
    ("+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"),
    ("+5:30", "Bombay, Calcutta, Madras, New Delhi"),
    ("+5:45", "Kathmandu"),
    ("+6:00", "Almaty, Dhaka, Colombo"),
    ("+7:00", "Bangkok, Hanoi, Jakarta"),
    ("+8:00", "Beijing, Perth, Singapore, Hong Kong"),
    ("+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"),
    ("+9:30", "Adelaide, Darwin"),
    ("+10:00", "Eastern Australia, Guam, Vladivostok"),
    ("+11:00", "Magadan, Solomon Islands, New Caledonia"),
    ("+12:00", "Auckland, Wellington, Fiji, Kamchatka"),
];

/// Usernames are an adjective, an animal and three digits, as in the API.
#[rustfmt::skip]
pub(super) const ADJECTIVES: Table = &[
    "happy", "sad", "big", "small", "black", "white", "red", "blue", "green", "yellow", "orange",
    "purple", "brown", "crazy", "lazy", "heavy", "tiny", "silver", "golden", "beautiful", "angry",
    "ticklish", "organic", "smart", "ornery", "goofy", "lucky", "shy",
];

#[rustfmt::skip]
pub(super) const ANIMALS: Table = &[
    "peacock", "bird", "swan", "gorilla", "tiger", "lion", "elephant", "rabbit", "frog", "fish",
    "koala", "panda", "wolf", "bear", "dog", "cat", "leopard", "zebra", "butterfly", "ladybug",
    "goose", "duck", "snake", "mouse", "ostrich", "meercat", "buffalo", "kangaroo",
];

/// Like the API, weak passwords from a small list.
#[rustfmt::skip]
pub(super) const PASSWORDS: Table = &[
    "gggggg", "topgun", "sammy", "chester", "trouble", "bond007", "dragon", "sunshine", "butterfly",
    "rockstar", "pepper", "qwerty", "letmein", "123456", "mustang", "jasper", "ginger", "cowboy",
    "password1", "hockey", "maverick", "snoopy", "tigger", "monkey",
];

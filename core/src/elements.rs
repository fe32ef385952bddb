//! The periodic table as nucleate needs it: symbols, covalent radii and display colours.
//!
//! Provenance: covalent radii are Cordero et al., *Dalton Trans.* 2008, 2832 (single-bond radii,
//! low-spin for Mn/Fe/Co, sp3 carbon), the table ASE ships as `ase.data.covalent_radii`; elements
//! past curium have no tabulated radius. Colours are Jmol's CPK scheme (sRGB, 0xRRGGBB).

/// One element of the periodic table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Element {
    /// Atomic number Z (1..=118).
    pub number: u8,
    /// IUPAC symbol, e.g. `"Cl"`.
    pub symbol: &'static str,
    /// Single-bond covalent radius in Å (Cordero 2008), where one is tabulated.
    pub covalent_radius: Option<f64>,
    /// Jmol CPK colour as sRGB `0xRRGGBB`.
    pub cpk_rgb: u32,
}

/// Largest atomic number known to the table.
pub const MAX_Z: u8 = 118;

/// Colour for unknown elements (Jmol's deep pink).
pub const UNKNOWN_RGB: u32 = 0xFF1493;

/// All elements, indexed by `Z - 1`.
pub static ELEMENTS: [Element; 118] = [
    Element {
        number: 1,
        symbol: "H",
        covalent_radius: Some(0.31),
        cpk_rgb: 0xFFFFFF,
    },
    Element {
        number: 2,
        symbol: "He",
        covalent_radius: Some(0.28),
        cpk_rgb: 0xD9FFFF,
    },
    Element {
        number: 3,
        symbol: "Li",
        covalent_radius: Some(1.28),
        cpk_rgb: 0xCC80FF,
    },
    Element {
        number: 4,
        symbol: "Be",
        covalent_radius: Some(0.96),
        cpk_rgb: 0xC2FF00,
    },
    Element {
        number: 5,
        symbol: "B",
        covalent_radius: Some(0.84),
        cpk_rgb: 0xFFB5B5,
    },
    Element {
        number: 6,
        symbol: "C",
        covalent_radius: Some(0.76),
        cpk_rgb: 0x909090,
    },
    Element {
        number: 7,
        symbol: "N",
        covalent_radius: Some(0.71),
        cpk_rgb: 0x3050F8,
    },
    Element {
        number: 8,
        symbol: "O",
        covalent_radius: Some(0.66),
        cpk_rgb: 0xFF0D0D,
    },
    Element {
        number: 9,
        symbol: "F",
        covalent_radius: Some(0.57),
        cpk_rgb: 0x90E050,
    },
    Element {
        number: 10,
        symbol: "Ne",
        covalent_radius: Some(0.58),
        cpk_rgb: 0xB3E3F5,
    },
    Element {
        number: 11,
        symbol: "Na",
        covalent_radius: Some(1.66),
        cpk_rgb: 0xAB5CF2,
    },
    Element {
        number: 12,
        symbol: "Mg",
        covalent_radius: Some(1.41),
        cpk_rgb: 0x8AFF00,
    },
    Element {
        number: 13,
        symbol: "Al",
        covalent_radius: Some(1.21),
        cpk_rgb: 0xBFA6A6,
    },
    Element {
        number: 14,
        symbol: "Si",
        covalent_radius: Some(1.11),
        cpk_rgb: 0xF0C8A0,
    },
    Element {
        number: 15,
        symbol: "P",
        covalent_radius: Some(1.07),
        cpk_rgb: 0xFF8000,
    },
    Element {
        number: 16,
        symbol: "S",
        covalent_radius: Some(1.05),
        cpk_rgb: 0xFFFF30,
    },
    Element {
        number: 17,
        symbol: "Cl",
        covalent_radius: Some(1.02),
        cpk_rgb: 0x1FF01F,
    },
    Element {
        number: 18,
        symbol: "Ar",
        covalent_radius: Some(1.06),
        cpk_rgb: 0x80D1E3,
    },
    Element {
        number: 19,
        symbol: "K",
        covalent_radius: Some(2.03),
        cpk_rgb: 0x8F40D4,
    },
    Element {
        number: 20,
        symbol: "Ca",
        covalent_radius: Some(1.76),
        cpk_rgb: 0x3DFF00,
    },
    Element {
        number: 21,
        symbol: "Sc",
        covalent_radius: Some(1.70),
        cpk_rgb: 0xE6E6E6,
    },
    Element {
        number: 22,
        symbol: "Ti",
        covalent_radius: Some(1.60),
        cpk_rgb: 0xBFC2C7,
    },
    Element {
        number: 23,
        symbol: "V",
        covalent_radius: Some(1.53),
        cpk_rgb: 0xA6A6AB,
    },
    Element {
        number: 24,
        symbol: "Cr",
        covalent_radius: Some(1.39),
        cpk_rgb: 0x8A99C7,
    },
    Element {
        number: 25,
        symbol: "Mn",
        covalent_radius: Some(1.39),
        cpk_rgb: 0x9C7AC7,
    },
    Element {
        number: 26,
        symbol: "Fe",
        covalent_radius: Some(1.32),
        cpk_rgb: 0xE06633,
    },
    Element {
        number: 27,
        symbol: "Co",
        covalent_radius: Some(1.26),
        cpk_rgb: 0xF090A0,
    },
    Element {
        number: 28,
        symbol: "Ni",
        covalent_radius: Some(1.24),
        cpk_rgb: 0x50D050,
    },
    Element {
        number: 29,
        symbol: "Cu",
        covalent_radius: Some(1.32),
        cpk_rgb: 0xC88033,
    },
    Element {
        number: 30,
        symbol: "Zn",
        covalent_radius: Some(1.22),
        cpk_rgb: 0x7D80B0,
    },
    Element {
        number: 31,
        symbol: "Ga",
        covalent_radius: Some(1.22),
        cpk_rgb: 0xC28F8F,
    },
    Element {
        number: 32,
        symbol: "Ge",
        covalent_radius: Some(1.20),
        cpk_rgb: 0x668F8F,
    },
    Element {
        number: 33,
        symbol: "As",
        covalent_radius: Some(1.19),
        cpk_rgb: 0xBD80E3,
    },
    Element {
        number: 34,
        symbol: "Se",
        covalent_radius: Some(1.20),
        cpk_rgb: 0xFFA100,
    },
    Element {
        number: 35,
        symbol: "Br",
        covalent_radius: Some(1.20),
        cpk_rgb: 0xA62929,
    },
    Element {
        number: 36,
        symbol: "Kr",
        covalent_radius: Some(1.16),
        cpk_rgb: 0x5CB8D1,
    },
    Element {
        number: 37,
        symbol: "Rb",
        covalent_radius: Some(2.20),
        cpk_rgb: 0x702EB0,
    },
    Element {
        number: 38,
        symbol: "Sr",
        covalent_radius: Some(1.95),
        cpk_rgb: 0x00FF00,
    },
    Element {
        number: 39,
        symbol: "Y",
        covalent_radius: Some(1.90),
        cpk_rgb: 0x94FFFF,
    },
    Element {
        number: 40,
        symbol: "Zr",
        covalent_radius: Some(1.75),
        cpk_rgb: 0x94E0E0,
    },
    Element {
        number: 41,
        symbol: "Nb",
        covalent_radius: Some(1.64),
        cpk_rgb: 0x73C2C9,
    },
    Element {
        number: 42,
        symbol: "Mo",
        covalent_radius: Some(1.54),
        cpk_rgb: 0x54B5B5,
    },
    Element {
        number: 43,
        symbol: "Tc",
        covalent_radius: Some(1.47),
        cpk_rgb: 0x3B9E9E,
    },
    Element {
        number: 44,
        symbol: "Ru",
        covalent_radius: Some(1.46),
        cpk_rgb: 0x248F8F,
    },
    Element {
        number: 45,
        symbol: "Rh",
        covalent_radius: Some(1.42),
        cpk_rgb: 0x0A7D8C,
    },
    Element {
        number: 46,
        symbol: "Pd",
        covalent_radius: Some(1.39),
        cpk_rgb: 0x006985,
    },
    Element {
        number: 47,
        symbol: "Ag",
        covalent_radius: Some(1.45),
        cpk_rgb: 0xC0C0C0,
    },
    Element {
        number: 48,
        symbol: "Cd",
        covalent_radius: Some(1.44),
        cpk_rgb: 0xFFD98F,
    },
    Element {
        number: 49,
        symbol: "In",
        covalent_radius: Some(1.42),
        cpk_rgb: 0xA67573,
    },
    Element {
        number: 50,
        symbol: "Sn",
        covalent_radius: Some(1.39),
        cpk_rgb: 0x668080,
    },
    Element {
        number: 51,
        symbol: "Sb",
        covalent_radius: Some(1.39),
        cpk_rgb: 0x9E63B5,
    },
    Element {
        number: 52,
        symbol: "Te",
        covalent_radius: Some(1.38),
        cpk_rgb: 0xD47A00,
    },
    Element {
        number: 53,
        symbol: "I",
        covalent_radius: Some(1.39),
        cpk_rgb: 0x940094,
    },
    Element {
        number: 54,
        symbol: "Xe",
        covalent_radius: Some(1.40),
        cpk_rgb: 0x429EB0,
    },
    Element {
        number: 55,
        symbol: "Cs",
        covalent_radius: Some(2.44),
        cpk_rgb: 0x57178F,
    },
    Element {
        number: 56,
        symbol: "Ba",
        covalent_radius: Some(2.15),
        cpk_rgb: 0x00C900,
    },
    Element {
        number: 57,
        symbol: "La",
        covalent_radius: Some(2.07),
        cpk_rgb: 0x70D4FF,
    },
    Element {
        number: 58,
        symbol: "Ce",
        covalent_radius: Some(2.04),
        cpk_rgb: 0xFFFFC7,
    },
    Element {
        number: 59,
        symbol: "Pr",
        covalent_radius: Some(2.03),
        cpk_rgb: 0xD9FFC7,
    },
    Element {
        number: 60,
        symbol: "Nd",
        covalent_radius: Some(2.01),
        cpk_rgb: 0xC7FFC7,
    },
    Element {
        number: 61,
        symbol: "Pm",
        covalent_radius: Some(1.99),
        cpk_rgb: 0xA3FFC7,
    },
    Element {
        number: 62,
        symbol: "Sm",
        covalent_radius: Some(1.98),
        cpk_rgb: 0x8FFFC7,
    },
    Element {
        number: 63,
        symbol: "Eu",
        covalent_radius: Some(1.98),
        cpk_rgb: 0x61FFC7,
    },
    Element {
        number: 64,
        symbol: "Gd",
        covalent_radius: Some(1.96),
        cpk_rgb: 0x45FFC7,
    },
    Element {
        number: 65,
        symbol: "Tb",
        covalent_radius: Some(1.94),
        cpk_rgb: 0x30FFC7,
    },
    Element {
        number: 66,
        symbol: "Dy",
        covalent_radius: Some(1.92),
        cpk_rgb: 0x1FFFC7,
    },
    Element {
        number: 67,
        symbol: "Ho",
        covalent_radius: Some(1.92),
        cpk_rgb: 0x00FF9C,
    },
    Element {
        number: 68,
        symbol: "Er",
        covalent_radius: Some(1.89),
        cpk_rgb: 0x00E675,
    },
    Element {
        number: 69,
        symbol: "Tm",
        covalent_radius: Some(1.90),
        cpk_rgb: 0x00D452,
    },
    Element {
        number: 70,
        symbol: "Yb",
        covalent_radius: Some(1.87),
        cpk_rgb: 0x00BF38,
    },
    Element {
        number: 71,
        symbol: "Lu",
        covalent_radius: Some(1.87),
        cpk_rgb: 0x00AB24,
    },
    Element {
        number: 72,
        symbol: "Hf",
        covalent_radius: Some(1.75),
        cpk_rgb: 0x4DC2FF,
    },
    Element {
        number: 73,
        symbol: "Ta",
        covalent_radius: Some(1.70),
        cpk_rgb: 0x4DA6FF,
    },
    Element {
        number: 74,
        symbol: "W",
        covalent_radius: Some(1.62),
        cpk_rgb: 0x2194D6,
    },
    Element {
        number: 75,
        symbol: "Re",
        covalent_radius: Some(1.51),
        cpk_rgb: 0x267DAB,
    },
    Element {
        number: 76,
        symbol: "Os",
        covalent_radius: Some(1.44),
        cpk_rgb: 0x266696,
    },
    Element {
        number: 77,
        symbol: "Ir",
        covalent_radius: Some(1.41),
        cpk_rgb: 0x175487,
    },
    Element {
        number: 78,
        symbol: "Pt",
        covalent_radius: Some(1.36),
        cpk_rgb: 0xD0D0E0,
    },
    Element {
        number: 79,
        symbol: "Au",
        covalent_radius: Some(1.36),
        cpk_rgb: 0xFFD123,
    },
    Element {
        number: 80,
        symbol: "Hg",
        covalent_radius: Some(1.32),
        cpk_rgb: 0xB8B8D0,
    },
    Element {
        number: 81,
        symbol: "Tl",
        covalent_radius: Some(1.45),
        cpk_rgb: 0xA6544D,
    },
    Element {
        number: 82,
        symbol: "Pb",
        covalent_radius: Some(1.46),
        cpk_rgb: 0x575961,
    },
    Element {
        number: 83,
        symbol: "Bi",
        covalent_radius: Some(1.48),
        cpk_rgb: 0x9E4FB5,
    },
    Element {
        number: 84,
        symbol: "Po",
        covalent_radius: Some(1.40),
        cpk_rgb: 0xAB5C00,
    },
    Element {
        number: 85,
        symbol: "At",
        covalent_radius: Some(1.50),
        cpk_rgb: 0x754F45,
    },
    Element {
        number: 86,
        symbol: "Rn",
        covalent_radius: Some(1.50),
        cpk_rgb: 0x428296,
    },
    Element {
        number: 87,
        symbol: "Fr",
        covalent_radius: Some(2.60),
        cpk_rgb: 0x420066,
    },
    Element {
        number: 88,
        symbol: "Ra",
        covalent_radius: Some(2.21),
        cpk_rgb: 0x007D00,
    },
    Element {
        number: 89,
        symbol: "Ac",
        covalent_radius: Some(2.15),
        cpk_rgb: 0x70ABFA,
    },
    Element {
        number: 90,
        symbol: "Th",
        covalent_radius: Some(2.06),
        cpk_rgb: 0x00BAFF,
    },
    Element {
        number: 91,
        symbol: "Pa",
        covalent_radius: Some(2.00),
        cpk_rgb: 0x00A1FF,
    },
    Element {
        number: 92,
        symbol: "U",
        covalent_radius: Some(1.96),
        cpk_rgb: 0x008FFF,
    },
    Element {
        number: 93,
        symbol: "Np",
        covalent_radius: Some(1.90),
        cpk_rgb: 0x0080FF,
    },
    Element {
        number: 94,
        symbol: "Pu",
        covalent_radius: Some(1.87),
        cpk_rgb: 0x006BFF,
    },
    Element {
        number: 95,
        symbol: "Am",
        covalent_radius: Some(1.80),
        cpk_rgb: 0x545CF2,
    },
    Element {
        number: 96,
        symbol: "Cm",
        covalent_radius: Some(1.69),
        cpk_rgb: 0x785CE3,
    },
    Element {
        number: 97,
        symbol: "Bk",
        covalent_radius: None,
        cpk_rgb: 0x8A4FE3,
    },
    Element {
        number: 98,
        symbol: "Cf",
        covalent_radius: None,
        cpk_rgb: 0xA136D4,
    },
    Element {
        number: 99,
        symbol: "Es",
        covalent_radius: None,
        cpk_rgb: 0xB31FD4,
    },
    Element {
        number: 100,
        symbol: "Fm",
        covalent_radius: None,
        cpk_rgb: 0xB31FBA,
    },
    Element {
        number: 101,
        symbol: "Md",
        covalent_radius: None,
        cpk_rgb: 0xB30DA6,
    },
    Element {
        number: 102,
        symbol: "No",
        covalent_radius: None,
        cpk_rgb: 0xBD0D87,
    },
    Element {
        number: 103,
        symbol: "Lr",
        covalent_radius: None,
        cpk_rgb: 0xC70066,
    },
    Element {
        number: 104,
        symbol: "Rf",
        covalent_radius: None,
        cpk_rgb: 0xCC0059,
    },
    Element {
        number: 105,
        symbol: "Db",
        covalent_radius: None,
        cpk_rgb: 0xD1004F,
    },
    Element {
        number: 106,
        symbol: "Sg",
        covalent_radius: None,
        cpk_rgb: 0xD90045,
    },
    Element {
        number: 107,
        symbol: "Bh",
        covalent_radius: None,
        cpk_rgb: 0xE00038,
    },
    Element {
        number: 108,
        symbol: "Hs",
        covalent_radius: None,
        cpk_rgb: 0xE6002E,
    },
    Element {
        number: 109,
        symbol: "Mt",
        covalent_radius: None,
        cpk_rgb: 0xEB0026,
    },
    Element {
        number: 110,
        symbol: "Ds",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 111,
        symbol: "Rg",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 112,
        symbol: "Cn",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 113,
        symbol: "Nh",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 114,
        symbol: "Fl",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 115,
        symbol: "Mc",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 116,
        symbol: "Lv",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 117,
        symbol: "Ts",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
    Element {
        number: 118,
        symbol: "Og",
        covalent_radius: None,
        cpk_rgb: 0xFF1493,
    },
];

/// The element with atomic number `z`, if `1 <= z <= 118`.
pub fn by_number(z: u8) -> Option<&'static Element> {
    if z == 0 {
        return None;
    }
    ELEMENTS.get(usize::from(z) - 1)
}

/// Symbol for `z`, or `"X"` for numbers outside the table.
pub fn symbol(z: u8) -> &'static str {
    by_number(z).map_or("X", |e| e.symbol)
}

/// Atomic number of an element symbol, case-insensitively (`"CL"`, `"cl"` and `"Cl"` all give 17).
pub fn number_from_symbol(symbol: &str) -> Option<u8> {
    let s = symbol.trim();
    if s.is_empty() || s.len() > 2 {
        return None;
    }
    ELEMENTS
        .iter()
        .find(|e| e.symbol.eq_ignore_ascii_case(s))
        .map(|e| e.number)
}

/// CPK colour of `z` as sRGB components in `[0, 1]`.
pub fn cpk_srgb(z: u8) -> [f32; 3] {
    let rgb = by_number(z).map_or(UNKNOWN_RGB, |e| e.cpk_rgb);
    [
        ((rgb >> 16) & 0xFF) as f32 / 255.0,
        ((rgb >> 8) & 0xFF) as f32 / 255.0,
        (rgb & 0xFF) as f32 / 255.0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_atomic_number() {
        for (i, e) in ELEMENTS.iter().enumerate() {
            assert_eq!(usize::from(e.number), i + 1, "{}", e.symbol);
        }
        assert_eq!(symbol(6), "C");
        assert_eq!(symbol(118), "Og");
        assert_eq!(symbol(0), "X");
        assert_eq!(symbol(200), "X");
    }

    #[test]
    fn symbols_parse_case_insensitively() {
        assert_eq!(number_from_symbol("Cl"), Some(17));
        assert_eq!(number_from_symbol("CL"), Some(17));
        assert_eq!(number_from_symbol(" o "), Some(8));
        assert_eq!(number_from_symbol("Xx"), None);
        assert_eq!(number_from_symbol(""), None);
        assert_eq!(number_from_symbol("Carbon"), None);
    }

    #[test]
    fn radii_match_cordero() {
        assert_eq!(by_number(1).and_then(|e| e.covalent_radius), Some(0.31));
        assert_eq!(by_number(6).and_then(|e| e.covalent_radius), Some(0.76));
        assert_eq!(by_number(8).and_then(|e| e.covalent_radius), Some(0.66));
        assert_eq!(by_number(96).and_then(|e| e.covalent_radius), Some(1.69));
        assert_eq!(by_number(97).and_then(|e| e.covalent_radius), None);
    }
}

#include "gen/gen_citizens.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/time.h"

namespace sluice::gen {
namespace {

constexpr std::string_view kHeader =
    "citizen_id,first_name,last_name,gender,birth_date,email,phone,street,city,region,"
    "postal_code,occupation,annual_income,registered_at,updated_at\n";

constexpr size_t kBufferBytes = size_t{4} << 20;
// Upper bound on one formatted row; the longest possible row is well under 400 bytes.
constexpr size_t kMaxRowBytes = 1024;
constexpr uint64_t kProgressIntervalBytes = uint64_t{8} << 20;
// Duplicates are drawn from this many most recent citizens so memory stays bounded.
constexpr size_t kRecentCitizens = 100000;
constexpr uint64_t kFirstCitizenId = 1000000;
constexpr int64_t kSecondsPerDay = 86400;

// ---------------------------------------------------------------------------------------------
// Calendar: DaysFromCivil / CivilFromDays from common/time.h.

constexpr int64_t kBirthFirstDay = DaysFromCivil(1930, 1, 1);
constexpr int64_t kBirthDaySpan = DaysFromCivil(2025, 12, 31) - kBirthFirstDay + 1;
constexpr int64_t kRegisteredFirst = DaysFromCivil(2000, 1, 1) * kSecondsPerDay;
constexpr int64_t kRegisteredEnd = DaysFromCivil(2026, 11, 1) * kSecondsPerDay;  // exclusive

// ---------------------------------------------------------------------------------------------
// Built-in value lists. `ascii` is the lowercase ASCII folding used to build email addresses.

struct Name {
  std::string_view text;
  std::string_view ascii;
};

// The first kFemaleFirstNames entries are female names, the rest male.
constexpr size_t kFemaleFirstNames = 30;
constexpr std::array<Name, 60> kFirstNames = {{
    {"Anna", "anna"},
    {"Maria", "maria"},
    {"Emma", "emma"},
    {"Sophie", "sophie"},
    {"Lena", "lena"},
    {"Laura", "laura"},
    {"Julia", "julia"},
    {"Hannah", "hannah"},
    {"Lea", "lea"},
    {"Mia", "mia"},
    {"Sarah", "sarah"},
    {"Katharina", "katharina"},
    {"Johanna", "johanna"},
    {"Clara", "clara"},
    {"Paula", "paula"},
    {"Zoë", "zoe"},
    {"Chloé", "chloe"},
    {"Renée", "renee"},
    {"Ingrid", "ingrid"},
    {"Sofía", "sofia"},
    {"Agnieszka", "agnieszka"},
    {"Małgorzata", "malgorzata"},
    {"Ayşe", "ayse"},
    {"Elif", "elif"},
    {"Fatma", "fatma"},
    {"Inès", "ines"},
    {"Nora", "nora"},
    {"Greta", "greta"},
    {"Frieda", "frieda"},
    {"Sigrún", "sigrun"},
    {"Thomas", "thomas"},
    {"Michael", "michael"},
    {"Andreas", "andreas"},
    {"Stefan", "stefan"},
    {"Christian", "christian"},
    {"Markus", "markus"},
    {"Peter", "peter"},
    {"Alexander", "alexander"},
    {"Daniel", "daniel"},
    {"Tobias", "tobias"},
    {"Jürgen", "juergen"},
    {"Jörg", "joerg"},
    {"Björn", "bjoern"},
    {"Søren", "soeren"},
    {"Łukasz", "lukasz"},
    {"José", "jose"},
    {"François", "francois"},
    {"Mehmet", "mehmet"},
    {"Emre", "emre"},
    {"Piotr", "piotr"},
    {"Jan", "jan"},
    {"Lukas", "lukas"},
    {"Felix", "felix"},
    {"Jonas", "jonas"},
    {"Leon", "leon"},
    {"Paul", "paul"},
    {"Matthias", "matthias"},
    {"Sebastian", "sebastian"},
    {"Florian", "florian"},
    {"René", "rene"},
}};

constexpr std::array<Name, 60> kLastNames = {{
    {"Müller", "mueller"},
    {"Schmidt", "schmidt"},
    {"Schneider", "schneider"},
    {"Fischer", "fischer"},
    {"Weber", "weber"},
    {"Meyer", "meyer"},
    {"Wagner", "wagner"},
    {"Becker", "becker"},
    {"Schulz", "schulz"},
    {"Hoffmann", "hoffmann"},
    {"Schäfer", "schaefer"},
    {"Koch", "koch"},
    {"Bauer", "bauer"},
    {"Richter", "richter"},
    {"Klein", "klein"},
    {"Wolf", "wolf"},
    {"Schröder", "schroeder"},
    {"Neumann", "neumann"},
    {"Schwarz", "schwarz"},
    {"Zimmermann", "zimmermann"},
    {"Braun", "braun"},
    {"Krüger", "krueger"},
    {"Hofmann", "hofmann"},
    {"Hartmann", "hartmann"},
    {"Lange", "lange"},
    {"Schmitt", "schmitt"},
    {"Werner", "werner"},
    {"Schmitz", "schmitz"},
    {"Krause", "krause"},
    {"Meier", "meier"},
    {"Lehmann", "lehmann"},
    {"Schmid", "schmid"},
    {"Schulze", "schulze"},
    {"Maier", "maier"},
    {"Köhler", "koehler"},
    {"Herrmann", "herrmann"},
    {"König", "koenig"},
    {"Walter", "walter"},
    {"Mayer", "mayer"},
    {"Huber", "huber"},
    {"Kaiser", "kaiser"},
    {"Fuchs", "fuchs"},
    {"Peters", "peters"},
    {"Lang", "lang"},
    {"Scholz", "scholz"},
    {"Möller", "moeller"},
    {"Weiß", "weiss"},
    {"Jung", "jung"},
    {"Hahn", "hahn"},
    {"Vogel", "vogel"},
    {"Friedrich", "friedrich"},
    {"Keller", "keller"},
    {"Günther", "guenther"},
    {"Yılmaz", "yilmaz"},
    {"Kowalski", "kowalski"},
    {"Nowak", "nowak"},
    {"García", "garcia"},
    {"Jensen", "jensen"},
    {"Søndergaard", "soendergaard"},
    {"Öztürk", "oeztuerk"},
}};

constexpr std::array<std::string_view, 12> kRegions = {
    "Bayern",   "Baden-Württemberg", "Nordrhein-Westfalen", "Hessen",          "Niedersachsen",
    "Sachsen",  "Thüringen",         "Schleswig-Holstein",  "Rheinland-Pfalz", "Brandenburg",
    "Saarland", "Sachsen-Anhalt",
};

struct City {
  std::string_view name;
  uint8_t region;
  std::string_view area_code;  // phone area code without the trunk prefix 0
  uint16_t postal_prefix;      // first two digits of the postal code
};

// Grouped by region, regions in kRegions order.
constexpr std::array<City, 52> kCities = {{
    {"München", 0, "89", 80},
    {"Nürnberg", 0, "911", 90},
    {"Augsburg", 0, "821", 86},
    {"Regensburg", 0, "941", 93},
    {"Würzburg", 0, "931", 97},
    {"Stuttgart", 1, "711", 70},
    {"Karlsruhe", 1, "721", 76},
    {"Mannheim", 1, "621", 68},
    {"Freiburg", 1, "761", 79},
    {"Heidelberg", 1, "6221", 69},
    {"Ulm", 1, "731", 89},
    {"Köln", 2, "221", 50},
    {"Düsseldorf", 2, "211", 40},
    {"Dortmund", 2, "231", 44},
    {"Essen", 2, "201", 45},
    {"Münster", 2, "251", 48},
    {"Bonn", 2, "228", 53},
    {"Frankfurt am Main", 3, "69", 60},
    {"Wiesbaden", 3, "611", 65},
    {"Kassel", 3, "561", 34},
    {"Darmstadt", 3, "6151", 64},
    {"Hannover", 4, "511", 30},
    {"Braunschweig", 4, "531", 38},
    {"Osnabrück", 4, "541", 49},
    {"Göttingen", 4, "551", 37},
    {"Oldenburg", 4, "441", 26},
    {"Dresden", 5, "351", 1},
    {"Leipzig", 5, "341", 4},
    {"Chemnitz", 5, "371", 9},
    {"Zwickau", 5, "375", 8},
    {"Erfurt", 6, "361", 99},
    {"Jena", 6, "3641", 7},
    {"Weimar", 6, "3643", 99},
    {"Gera", 6, "365", 7},
    {"Kiel", 7, "431", 24},
    {"Lübeck", 7, "451", 23},
    {"Flensburg", 7, "461", 24},
    {"Mainz", 8, "6131", 55},
    {"Koblenz", 8, "261", 56},
    {"Trier", 8, "651", 54},
    {"Kaiserslautern", 8, "631", 67},
    {"Potsdam", 9, "331", 14},
    {"Cottbus", 9, "355", 3},
    {"Frankfurt (Oder)", 9, "335", 15},
    {"Saarbrücken", 10, "681", 66},
    {"Neunkirchen", 10, "6821", 66},
    {"Homburg", 10, "6841", 66},
    {"Völklingen", 10, "6898", 66},
    {"Magdeburg", 11, "391", 39},
    {"Halle (Saale)", 11, "345", 6},
    {"Dessau-Roßlau", 11, "340", 6},
    {"Wernigerode", 11, "3943", 38},
}};

// Where each region's cities start in kCities, plus a final end marker; regions are drawn
// uniformly first so that regions with many listed cities are not over-represented.
constexpr std::array<uint8_t, kRegions.size() + 1> MakeRegionStarts() {
  std::array<uint8_t, kRegions.size() + 1> starts{};
  for (size_t i = kCities.size(); i-- > 0;) starts[kCities[i].region] = static_cast<uint8_t>(i);
  starts[kRegions.size()] = static_cast<uint8_t>(kCities.size());
  return starts;
}
constexpr std::array<uint8_t, kRegions.size() + 1> kRegionStarts = MakeRegionStarts();

constexpr bool CitiesGroupedByRegion() {
  for (size_t i = 1; i < kCities.size(); ++i) {
    if (kCities[i].region != kCities[i - 1].region &&
        kCities[i].region != kCities[i - 1].region + 1)
      return false;
  }
  for (size_t r = 0; r < kRegions.size(); ++r) {
    if (kRegionStarts[r + 1] - kRegionStarts[r] < 3) return false;
  }
  return kCities.front().region == 0 && kCities.back().region == kRegions.size() - 1;
}
static_assert(CitiesGroupedByRegion());

constexpr std::array<std::string_view, 20> kStreets = {
    "Hauptstraße", "Schulstraße", "Dorfstraße", "Bergstraße", "Kirchstraße",
    "Ringstraße",  "Am Markt",    "Am Anger",   "Am Hang",    "Mühlenweg",
    "Birkenweg",   "Rosenweg",    "Feldweg",    "Talweg",     "Parkweg",
    "Gartenweg",   "Bachweg",     "Domplatz",   "Marktplatz", "Lindenhof",
};

// Street names that contain a quoted nickname; written with RFC 4180 doubled quotes.
constexpr std::array<std::string_view, 3> kQuotedStreets = {
    "Gasthof \"\"Zur Post\"\"",
    "Haus \"\"Am See\"\"",
    "Hof \"\"Alte Mühle\"\"",
};

constexpr std::array<std::string_view, 30> kOccupations = {
    "Nurse",      "Teacher",        "Electrician",  "Accountant",  "Engineer",      "Salesperson",
    "Physician",  "Pharmacist",     "Mechanic",     "Architect",   "Carpenter",     "Chef",
    "Bus Driver", "Police Officer", "Data Analyst", "Lawyer",      "Social Worker", "Plumber",
    "Cashier",    "Student",        "Retired",      "Logistician", "Designer",      "Journalist",
    "Farmer",     "Baker",          "Developer",    "Unemployed",  "Manager",       "Paramedic",
};

constexpr std::array<uint32_t, 3> kPowersOfTen = {1, 10, 100};
static_assert([] {
  for (const City& city : kCities) {
    if (city.area_code.size() < 2 || city.area_code.size() > 4) return false;
  }
  return true;
}());

constexpr std::array<std::string_view, 3> kEmailDomains = {"@example.org", "@example.com",
                                                           "@example.net"};

constexpr char kGenders[] = {'F', 'M', 'X'};

// ---------------------------------------------------------------------------------------------
// xoshiro256** seeded through splitmix64: fast, and unlike <random> distributions its output is
// fully specified, so a seed yields the same file with every compiler and standard library.

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is far below 2^-32).
  uint64_t Below(uint64_t n) {
    assert(n > 0);
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

  // Uniform 53-bit value, compared against thresholds made by RateThreshold.
  uint64_t Unit53() { return Next() >> 11; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t s_[4];
};

uint64_t RateThreshold(double rate) { return static_cast<uint64_t>(rate * 9007199254740992.0); }

// ---------------------------------------------------------------------------------------------
// Formatting helpers: each writes at p and returns the new end.

constexpr std::array<char, 200> MakeTwoDigits() {
  std::array<char, 200> table{};
  for (int i = 0; i < 100; ++i) {
    table[2 * i] = static_cast<char>('0' + i / 10);
    table[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return table;
}
constexpr std::array<char, 200> kTwoDigits = MakeTwoDigits();

char* AppendText(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

char* AppendUint(char* p, uint64_t value) {
  char digits[20];
  char* d = digits + sizeof(digits);
  do {
    *--d = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  const auto n = static_cast<size_t>(digits + sizeof(digits) - d);
  std::memcpy(p, d, n);
  return p + n;
}

char* Append2(char* p, unsigned value) {
  p[0] = kTwoDigits[2 * value];
  p[1] = kTwoDigits[2 * value + 1];
  return p + 2;
}

// Zero-padded to `width` digits (value must fit).
char* AppendPadded(char* p, uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

char* AppendDate(char* p, int64_t days) {
  const CivilDate date = CivilFromDays(days);
  const auto year = static_cast<unsigned>(date.year);
  p = Append2(p, year / 100);
  p = Append2(p, year % 100);
  *p++ = '-';
  p = Append2(p, date.month);
  *p++ = '-';
  return Append2(p, date.day);
}

char* AppendTimestamp(char* p, int64_t seconds) {
  const int64_t days = seconds / kSecondsPerDay;
  const auto time_of_day = static_cast<unsigned>(seconds - days * kSecondsPerDay);
  p = AppendDate(p, days);
  *p++ = ' ';
  p = Append2(p, time_of_day / 3600);
  *p++ = ':';
  p = Append2(p, time_of_day / 60 % 60);
  *p++ = ':';
  return Append2(p, time_of_day % 60);
}

// ---------------------------------------------------------------------------------------------

enum class EmailStyle : uint8_t { kLower, kEmpty, kCapitalized };
// Local-part layouts: first.last, f.last, firstlast, last.first (each followed by digits).
enum class EmailFormat : uint8_t { kFirstDotLast, kInitialDotLast, kFirstLast, kLastDotFirst };
enum class StreetStyle : uint8_t { kPlain, kWithComma, kWithQuotes };

// Padding bits: which name gets a stray space where (the cleaning model trims them).
constexpr uint8_t kPadFirstLeading = 1;
constexpr uint8_t kPadFirstTrailing = 2;
constexpr uint8_t kPadLastLeading = 4;
constexpr uint8_t kPadLastTrailing = 8;

// Everything needed to re-format a row byte for byte, so exact duplicates need no stored text.
struct Citizen {
  uint64_t id;
  int64_t registered_at;  // seconds since the epoch, UTC
  int64_t updated_at;
  int32_t birth_day;  // days since the epoch
  uint32_t income_cents;
  uint32_t phone;  // 7 digits; shortened to fit the area code when written
  uint32_t postal_code;
  uint8_t first_name;
  uint8_t last_name;
  uint8_t gender;
  uint8_t city;
  uint8_t occupation;
  uint8_t street;
  uint8_t house_number;
  uint8_t apartment;
  uint8_t email_domain;
  uint8_t name_padding;
  EmailStyle email_style;
  EmailFormat email_format;
  StreetStyle street_style;
};

enum class Malformation : uint8_t {
  kNone,
  kMissingColumn,
  kExtraField,
  kBadBirthDate,
  kBadIncome,
  kBadCitizenId,
  kInvalidUtf8,
};
constexpr uint64_t kMalformationKinds = 6;

class CitizenWriter {
 public:
  explicit CitizenWriter(const GenCitizensOptions& options)
      : rng_(options.seed),
        duplicate_threshold_(RateThreshold(options.duplicate_rate)),
        malformed_threshold_(RateThreshold(options.malformed_rate)) {
    // Sized once up front: the row loop must not allocate.
    recent_.resize(std::min<uint64_t>(options.rows, kRecentCitizens));
  }

  // Formats the next data row at p (which must have kMaxRowBytes of room); returns the new end.
  char* WriteNextRow(char* p) {
    const uint64_t draw = rng_.Unit53();
    if (draw < duplicate_threshold_ && recent_count_ > 0) return WriteDuplicate(p);
    if (draw >= duplicate_threshold_ && draw - duplicate_threshold_ < malformed_threshold_) {
      const auto kind = static_cast<Malformation>(1 + malformed_ % kMalformationKinds);
      const uint64_t variant = malformed_ / kMalformationKinds;
      ++malformed_;
      // Malformed rows get fresh ids and never enter recent_, so they are never duplicated.
      const Citizen citizen = NewCitizen();
      return WriteRow(p, citizen, kind, variant);
    }
    Citizen& slot = recent_[recent_next_];
    slot = NewCitizen();
    recent_next_ = (recent_next_ + 1) % recent_.size();
    if (recent_count_ < recent_.size()) ++recent_count_;
    return WriteRow(p, slot, Malformation::kNone, 0);
  }

  uint64_t duplicates() const { return duplicates_; }
  uint64_t malformed() const { return malformed_; }

 private:
  // Each slot of recent_ always holds the latest state of its citizen, so an exact copy repeats
  // the newest row and an update is strictly later than every earlier row of that citizen_id.
  // That keeps "keep the latest updated_at per citizen_id" a deterministic dedupe.
  char* WriteDuplicate(char* p) {
    const uint64_t back = 1 + rng_.Below(recent_count_);
    const size_t index = (recent_next_ + recent_.size() - back) % recent_.size();
    Citizen& citizen = recent_[index];
    const bool update = duplicates_ % 2 == 1;
    ++duplicates_;
    if (update) Update(citizen);
    return WriteRow(p, citizen, Malformation::kNone, 0);
  }

  void Update(Citizen& citizen) {
    const uint64_t what = rng_.Below(3);  // 0: income, 1: address, 2: both
    if (what != 1) {
      const uint32_t old_income = citizen.income_cents;
      do {
        citizen.income_cents = DrawIncomeCents();
      } while (citizen.income_cents == old_income);
    }
    if (what != 0) {
      const uint8_t old_region = kCities[citizen.city].region;
      if (rng_.Below(2) == 0) {  // move within the region
        const uint8_t start = kRegionStarts[old_region];
        const uint8_t count = kRegionStarts[old_region + 1] - start;
        // Every region has at least 3 cities, so an offset of 1..count-1 lands elsewhere.
        citizen.city = static_cast<uint8_t>(
            start + (citizen.city - start + 1 + rng_.Below(count - 1)) % count);
      } else {
        do {
          citizen.city = DrawCity();
        } while (kCities[citizen.city].region == old_region);
      }
      citizen.postal_code = DrawPostalCode(citizen.city);
      DrawStreet(citizen);
    }
    citizen.updated_at += 1 + static_cast<int64_t>(rng_.Below(90 * kSecondsPerDay));
  }

  Citizen NewCitizen() {
    Citizen c;
    next_id_ += 1 + rng_.Below(4);
    c.id = next_id_;
    c.first_name = static_cast<uint8_t>(rng_.Below(kFirstNames.size()));
    c.last_name = static_cast<uint8_t>(rng_.Below(kLastNames.size()));
    c.gender = rng_.Below(50) == 0 ? 2 : (c.first_name < kFemaleFirstNames ? 0 : 1);
    c.name_padding = rng_.Below(100) == 0 ? static_cast<uint8_t>(1u << rng_.Below(4)) : 0;
    c.birth_day = static_cast<int32_t>(
        kBirthFirstDay + static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(kBirthDaySpan))));
    const uint64_t email = rng_.Below(100);
    c.email_style = email < 2    ? EmailStyle::kEmpty
                    : email == 2 ? EmailStyle::kCapitalized
                                 : EmailStyle::kLower;
    const uint64_t format = rng_.Below(20);
    c.email_format = format < 7    ? EmailFormat::kFirstDotLast
                     : format < 15 ? EmailFormat::kInitialDotLast
                     : format < 18 ? EmailFormat::kFirstLast
                                   : EmailFormat::kLastDotFirst;
    c.email_domain = static_cast<uint8_t>(rng_.Below(kEmailDomains.size()));
    c.phone = static_cast<uint32_t>(1000000 + rng_.Below(9000000));
    c.city = DrawCity();
    c.postal_code = DrawPostalCode(c.city);
    DrawStreet(c);
    c.occupation = static_cast<uint8_t>(rng_.Below(kOccupations.size()));
    c.income_cents = DrawIncomeCents();

    // Nobody registers before being born.
    const int64_t born = int64_t{c.birth_day} * kSecondsPerDay;
    const int64_t first = born > kRegisteredFirst ? born : kRegisteredFirst;
    c.registered_at =
        first + static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(kRegisteredEnd - first)));
    c.updated_at = c.registered_at;
    if (rng_.Below(10) >= 4) {
      c.updated_at +=
          static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(kRegisteredEnd - c.registered_at)));
    }
    return c;
  }

  uint8_t DrawCity() {
    const uint64_t region = rng_.Below(kRegions.size());
    const uint64_t start = kRegionStarts[region];
    return static_cast<uint8_t>(start + rng_.Below(kRegionStarts[region + 1] - start));
  }

  uint32_t DrawPostalCode(uint8_t city) {
    return kCities[city].postal_prefix * 1000u + static_cast<uint32_t>(rng_.Below(1000));
  }

  void DrawStreet(Citizen& c) {
    const uint64_t style = rng_.Below(1000);
    if (style < 5) {
      c.street_style = StreetStyle::kWithComma;
      c.street = static_cast<uint8_t>(rng_.Below(kStreets.size()));
    } else if (style == 5) {
      c.street_style = StreetStyle::kWithQuotes;
      c.street = static_cast<uint8_t>(rng_.Below(kQuotedStreets.size()));
    } else {
      c.street_style = StreetStyle::kPlain;
      c.street = static_cast<uint8_t>(rng_.Below(kStreets.size()));
    }
    c.house_number = static_cast<uint8_t>(1 + rng_.Below(99));
    c.apartment = static_cast<uint8_t>(1 + rng_.Below(30));
  }

  // Right-skewed: most incomes 20000-90000, a low tail, a thin high tail up to 999999.99.
  uint32_t DrawIncomeCents() {
    auto skewed = [this](uint64_t low, uint64_t high) {  // density falls linearly low -> high
      const uint64_t a = rng_.Below(high - low);
      const uint64_t b = rng_.Below(high - low);
      return static_cast<uint32_t>(low + (a < b ? a : b));
    };
    const uint64_t band = rng_.Below(1000);
    if (band < 5) return 0;
    if (band < 50) return static_cast<uint32_t>(100000 + rng_.Below(1900000));
    if (band < 850) return skewed(2000000, 9000000);
    if (band < 980) return skewed(9000000, 25000000);
    return skewed(25000000, 100000000);
  }

  char* WriteRow(char* p, const Citizen& c, Malformation kind, uint64_t variant) {
    char* const row_start = p;
    if (kind == Malformation::kBadCitizenId) {
      p = AppendText(p, "abc");
    } else {
      p = AppendUint(p, c.id);
    }
    *p++ = ',';

    const Name& first = kFirstNames[c.first_name];
    const Name& last = kLastNames[c.last_name];
    if (c.name_padding & kPadFirstLeading) *p++ = ' ';
    p = AppendText(p, first.text);
    if (c.name_padding & kPadFirstTrailing) *p++ = ' ';
    *p++ = ',';
    if (c.name_padding & kPadLastLeading) *p++ = ' ';
    if (kind == Malformation::kInvalidUtf8) {
      // Mojibake in the middle of the name, as a mis-decoded export would produce.
      *p++ = last.text[0];
      p = AppendText(p, "\xff\xfe");
      p = AppendText(p, last.text.substr(1));
    } else {
      p = AppendText(p, last.text);
    }
    if (c.name_padding & kPadLastTrailing) *p++ = ' ';
    *p++ = ',';

    *p++ = kGenders[c.gender];
    *p++ = ',';

    if (kind == Malformation::kBadBirthDate) {
      const CivilDate date = CivilFromDays(c.birth_day);
      const auto year = static_cast<unsigned>(date.year);
      switch (variant % 3) {
        case 0:  // day that does not exist in that month
          p = AppendPadded(p, year, 4);
          p = AppendText(p, variant % 2 == 0 ? "-02-31" : "-04-31");
          break;
        case 1:  // day-first format
          p = Append2(p, date.day);
          *p++ = '/';
          p = Append2(p, date.month);
          *p++ = '/';
          p = AppendPadded(p, year, 4);
          break;
        default:  // month 13
          p = AppendPadded(p, year, 4);
          p = AppendText(p, "-13-");
          p = Append2(p, date.day);
          break;
      }
    } else {
      p = AppendDate(p, c.birth_day);
    }
    *p++ = ',';

    if (c.email_style != EmailStyle::kEmpty) {
      char* const email_start = p;
      char* second_part;
      switch (c.email_format) {
        case EmailFormat::kFirstDotLast:
          p = AppendText(p, first.ascii);
          *p++ = '.';
          second_part = p;
          p = AppendText(p, last.ascii);
          break;
        case EmailFormat::kInitialDotLast:
          *p++ = first.ascii[0];
          *p++ = '.';
          second_part = p;
          p = AppendText(p, last.ascii);
          break;
        case EmailFormat::kFirstLast:
          p = AppendText(p, first.ascii);
          second_part = p;
          p = AppendText(p, last.ascii);
          break;
        default:
          p = AppendText(p, last.ascii);
          *p++ = '.';
          second_part = p;
          p = AppendText(p, first.ascii);
          break;
      }
      // Most addresses carry a number, as real ones do once the plain name is taken.
      if (c.id / 100 % 5 < 3) p = AppendUint(p, c.id % 100);
      p = AppendText(p, kEmailDomains[c.email_domain]);
      if (c.email_style == EmailStyle::kCapitalized) {
        // ascii foldings are all lowercase letters, so this is a plain case flip.
        *email_start = static_cast<char>(*email_start - 'a' + 'A');
        *second_part = static_cast<char>(*second_part - 'a' + 'A');
      }
    }
    *p++ = ',';

    const City& city = kCities[c.city];
    if (kind != Malformation::kMissingColumn) {
      p = AppendText(p, "+49 ");
      p = AppendText(p, city.area_code);
      *p++ = ' ';
      // Area code plus subscriber number make 9 digits, so longer area codes get shorter numbers.
      p = AppendUint(p, c.phone / kPowersOfTen[city.area_code.size() - 2]);
      *p++ = ',';
    }

    if (kind == Malformation::kExtraField) {
      // The classic export bug: a comma inside an address that nobody quoted.
      p = AppendText(p, kStreets[c.street % kStreets.size()]);
      *p++ = ' ';
      p = AppendUint(p, c.house_number);
      p = AppendText(p, ", Whg. ");
      p = AppendUint(p, c.apartment);
    } else if (c.street_style == StreetStyle::kWithComma) {
      *p++ = '"';
      p = AppendText(p, kStreets[c.street]);
      *p++ = ' ';
      p = AppendUint(p, c.house_number);
      p = AppendText(p, ", Whg. ");
      p = AppendUint(p, c.apartment);
      *p++ = '"';
    } else if (c.street_style == StreetStyle::kWithQuotes) {
      *p++ = '"';
      p = AppendText(p, kQuotedStreets[c.street]);
      *p++ = ' ';
      p = AppendUint(p, c.house_number);
      *p++ = '"';
    } else {
      p = AppendText(p, kStreets[c.street]);
      *p++ = ' ';
      p = AppendUint(p, c.house_number);
    }
    *p++ = ',';

    p = AppendText(p, city.name);
    *p++ = ',';
    p = AppendText(p, kRegions[city.region]);
    *p++ = ',';
    p = AppendPadded(p, c.postal_code, 5);
    *p++ = ',';
    p = AppendText(p, kOccupations[c.occupation]);
    *p++ = ',';

    if (kind == Malformation::kBadIncome) {
      // Quoted so the comma does not also change the field count.
      p = AppendText(p, variant % 2 == 0 ? "n/a" : "\"12,5x\"");
    } else {
      p = AppendUint(p, c.income_cents / 100);
      *p++ = '.';
      p = Append2(p, c.income_cents % 100);
    }
    *p++ = ',';

    p = AppendTimestamp(p, c.registered_at);
    *p++ = ',';
    p = AppendTimestamp(p, c.updated_at);
    *p++ = '\n';
    assert(static_cast<size_t>(p - row_start) <= kMaxRowBytes);
    (void)row_start;
    return p;
  }

  Rng rng_;
  const uint64_t duplicate_threshold_;
  const uint64_t malformed_threshold_;
  std::vector<Citizen> recent_;  // ring of the most recent valid citizens
  size_t recent_next_ = 0;       // slot the next new citizen goes to
  size_t recent_count_ = 0;
  uint64_t next_id_ = kFirstCitizenId;
  uint64_t duplicates_ = 0;
  uint64_t malformed_ = 0;
};

// The output file; every failure becomes an Error(kIo) naming the path and errno text.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path)
      : is_stdout_(path == "-"), display_name_(is_stdout_ ? "<stdout>" : path) {
    if (is_stdout_) {
      file_ = stdout;
      return;
    }
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) Fail("cannot open", errno);
    // Our own buffer is large; stdio's second copy would only cost time.
    std::setvbuf(file_, nullptr, _IONBF, 0);
  }

  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  ~OutputFile() {
    if (file_ != nullptr && !is_stdout_) std::fclose(file_);  // only on the error path
  }

  void Write(const char* data, size_t size) {
    if (size == 0) return;
    errno = 0;
    if (std::fwrite(data, 1, size, file_) != size) Fail("cannot write to", errno);
  }

  void Close() {
    if (is_stdout_) {
      errno = 0;
      if (std::fflush(file_) != 0 || std::ferror(file_)) Fail("cannot write to", errno);
      file_ = nullptr;
      return;
    }
    FILE* file = file_;
    file_ = nullptr;
    errno = 0;
    if (std::fclose(file) != 0) Fail("cannot close", errno);
  }

 private:
  [[noreturn]] void Fail(const char* what, int error) const {
    throw IoError("gen citizens: " + std::string(what) + " output file '" + display_name_ +
                      "': " + (error != 0 ? std::strerror(error) : "unknown I/O error"),
                  false);
  }

  bool is_stdout_;
  std::string display_name_;
  FILE* file_ = nullptr;
};

}  // namespace

GenCitizensStats GenerateCitizens(const GenCitizensOptions& options,
                                  const std::function<void(uint64_t, uint64_t)>& progress) {
  assert(options.duplicate_rate >= 0 && options.duplicate_rate < 1);
  assert(options.malformed_rate >= 0 && options.malformed_rate < 1);

  OutputFile out(options.out_path);
  CitizenWriter writer(options);
  std::unique_ptr<char[]> buffer(new char[kBufferBytes]);
  char* const begin = buffer.get();
  char* const flush_at = begin + (kBufferBytes - kMaxRowBytes);

  GenCitizensStats stats;
  uint64_t next_progress = kProgressIntervalBytes;
  auto flush = [&](char* end) {
    out.Write(begin, static_cast<size_t>(end - begin));
    stats.bytes += static_cast<uint64_t>(end - begin);
    if (stats.bytes >= next_progress) {
      if (progress) progress(stats.bytes, stats.rows);
      while (next_progress <= stats.bytes) next_progress += kProgressIntervalBytes;
    }
  };

  char* p = AppendText(begin, kHeader);
  for (uint64_t i = 0; i < options.rows; ++i) {
    if (p >= flush_at) {
      flush(p);
      p = begin;
    }
    p = writer.WriteNextRow(p);
    ++stats.rows;
  }
  out.Write(begin, static_cast<size_t>(p - begin));
  stats.bytes += static_cast<uint64_t>(p - begin);
  out.Close();

  stats.duplicates = writer.duplicates();
  stats.malformed = writer.malformed();
  if (progress) progress(stats.bytes, stats.rows);
  return stats;
}

}  // namespace sluice::gen

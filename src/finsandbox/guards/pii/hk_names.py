"""Word lists behind Hong Kong name detection: romanised surnames, given-name syllables, places.

Hong Kong names are written in a few stable ways: "CHAN Tai Man" (surname in capitals, then the
Cantonese given name), "Chan Tai-man", "CHAN TAI MAN" (as on an HKID card), "Peter CHAN Tai Man",
"Peter Chan" and 陳大文. The surname comes from a short list (a few dozen cover most people) and
the given name from a small set of Cantonese syllables, which is what makes rules reliable here.
Districts and bank names share those syllables ("Wan Chai", "Chong Hing"), so they are listed too.
"""

from __future__ import annotations

# Romanised surnames: HK government (Cantonese) spellings first, then common Mandarin pinyin and
# Hokkien/Teochew/Hakka spellings seen in Hong Kong customer records.
_SURNAMES = """
Au Auyeung Au-Yeung Chai Cham Chan Chang Chau Cheng Cheuk Cheung Chiang Chim Ching Chiu Cho Choi
Chong Chow Chu Chuk Chung Fan Fok Fong Foo Fu Fung Ha Hau Heung Hin Ho Hon Hong Hu Hui Hung Ip Kam
Kan Kao Keung Ko Kok Kong Koo Ku Kung Kwan Kwok Kwong Lai Lam Lau Law Lee Leung Li Liang Lim Lin Ling
Liu Lo Lok Loo Lui Luk Lum Lung Ma Mak Man Mo Mok Mui Ng Ngai Ngan Pang Poon Pun Sham Shek Sheung
Shiu Shum Sin Siu So Soo Suen Sun Sung Sze Szeto Tai Tam Tang Tin To Tong Tsai Tsang Tse Tseng Tso
Tsoi Tsui Tung Wan Wat Wei Wen Wong Woo Wu Yam Yan Yau Yee Yeung Yim Yip Yiu Yu Yuen Yue Yung
Chen Huang Zhang Wang Zhao Zhou Xu Sun Gao Guo Luo Zheng Xie Song Han Feng Deng Cao Peng Zeng Xiao
Tian Dong Pan Yuan Cai Jiang Lu Ding Wei Shen Ren Yao Xiong Jin Qiu Qin Zhu Zhong Xia Tan Liao Fang
Shi Du Dai Jia Hou Meng Bai Cui Kang Mao Xiang Yin Yang Ye Huo Zou Qian Ou
"""
SURNAMES: frozenset[str] = frozenset(_SURNAMES.split())
SURNAMES_UPPER: frozenset[str] = frozenset(s.upper() for s in SURNAMES)

# Cantonese syllables used in given names (HK government romanisation).
_SYLLABLES = """
a ah bik bo bun chai chak cham chan chau che chee cheng cheuk cheung chi chik chin ching chiu cho
choi chong chow chu chuen chuk chun chung fai fan fat fei fong foon fu fuk fun fung ha hak han hang
hau hei hin hing ho hoi hok hon hong hop hou hung ka kai kam kan kar kat kau kei keung ki kin king
kit kiu ko kok kon kong ku kuen kuk kun kung kwai kwan kwok kwong lai lam lan lap lau lee lei leng
leung li lik lim lin ling lit lo lok long lui luk lun lung ma man mang mei miu mo mok mui mun na nam
ngai ngan ngo nin ning oi on pak pan pang pei pik ping po pok pong pui pun sai sam san sang sau se
sek shan shek sheung shing shu shuen shui shun si sik sin sing siu so suen sui sum sun sung sze tai
tak tam tan tang tat tim tin ting to tok tong tsan tsang tse tsoi tsun tsz tung wa wah wai wan wang
wing wo wong wu wui wun yam yan yat yau yee yeung yi yik yin ying yip yiu yu yue yuen yuet yuk yun
yung ming nga suet kwun hiu nok bing yeuk heung cheong choy tze shuk mau ngok tou wang
"""
GIVEN_SYLLABLES: frozenset[str] = frozenset(_SYLLABLES.split())

# English given names common in Hong Kong (a name before a listed surname: "Kelvin Lau").
_ENGLISH = """
Aaron Ada Adrian Agnes Alan Albert Alex Alexander Alfred Alice Alison Amanda Amy Andrew Andy Angel
Angela Ann Anna Annie Anthony Antonio Ben Benjamin Benny Betty Bill Billy Bobby Brian Bruce Calvin
Candy Carmen Carol Carrie Catherine Cathy Cecilia Charles Charlotte Cherry Chris Christina
Christine Christopher Cindy Claire Connie Crystal Cynthia Daisy Daniel David Dennis Derek Diana
Dickson Doris Edmond Edward Edwin Eileen Elaine Eliza Elizabeth Ella Ellen Emily Emma Eric Esther
Eunice Eva Felix Fiona Florence Frances Francis Frank Fred Gary George Gigi Gloria Grace Hannah
Harry Heidi Helen Henry Horace Ivan Ivy Jack Jackie Jacky Jacqueline James Jane Janet Jason Jeff
Jennifer Jenny Jerry Jessica Jimmy Joan Joanna Joe John Johnny Joseph Joshua Joyce Judy Julia
Karen Karl Kate Katherine Kathy Keith Kelly Kelvin Ken Kenneth Kenny Kevin Kitty Larry Laura Lawrence
Leo Leon Leslie Linda Lisa Louis Lucy Maggie Mandy Marco Margaret Maria Martin Mary Matthew Maurice
Max Melody Michael Michelle Mike Monica Nancy Natalie Nelson Nicholas Nicole Oscar Pamela Patrick
Paul Peggy Peter Philip Phoebe Queenie Rachel Raymond Rebecca Richard Rita Robert Roger Ronald Rose
Ruby Ryan Sally Sam Samuel Sandy Sarah Simon Sophia Sophie Stanley Stephanie Stephen Steven Sue
Susan Sylvia Terence Teresa Thomas Tiffany Timothy Tina Tom Tommy Tony Vanessa Veronica Victor
Victoria Vincent Vivian Walter Wendy William Willy Winnie Yvonne
"""
ENGLISH_GIVEN: frozenset[str] = frozenset(_ENGLISH.split())
ENGLISH_GIVEN_UPPER: frozenset[str] = frozenset(n.upper() for n in ENGLISH_GIVEN)

# Districts, MTR stations, streets and banks that read like "Surname Syllable Syllable".
_NOT_NAMES = """
Wan Chai|Chai Wan|Sheung Wan|Tsuen Wan|Tsim Sha Tsui|Mong Kok|Kwun Tong|Sha Tin|Tai Po|Yuen Long|
Tuen Mun|Tin Shui Wai|Kwai Chung|Kwai Fong|Lai Chi Kok|Cheung Sha Wan|Ho Man Tin|To Kwa Wan|
Ma On Shan|Lam Tin|Yau Tong|Yau Ma Tei|Ngau Tau Kok|Kowloon Tong|Tai Koo|Siu Sai Wan|Lok Fu|
Wong Tai Sin|Sai Kung|Tung Chung|Fo Tan|Tai Wai|Lo Wu|Sheung Shui|Tseung Kwan O|Hang Hau|Po Lam|
Tiu Keng Leng|Sai Ying Pun|Shau Kei Wan|Heng Fa Chuen|Tin Hau|Ap Lei Chau|Wong Chuk Hang|
Pok Fu Lam|Shek Kip Mei|Sham Shui Po|Cheung Chau|Lamma|Tai O|Mui Wo|Tai Hang|So Kon Po|Kwu Tung|
Lok Ma Chau|Tai Wo|Fanling|Tsing Yi|Ma Wan|Yuen Long|Hung Hom|Kai Tak|Tai Kok Tsui|Sham Tseng|
Hang Seng|Wing Lung|Chong Hing|Dah Sing|Chiyu|Nanyang|Tai Yau|Tai Sang|Wing Hang|Fubon|Lee Gardens|
Lee Garden|Man Yee|Chung Hom Kok|Shun Tak|Sun Hung Kai|Hang Lung|Wing On|Sincere|Hong Kong|
Ho Tung|Yan Oi|Tung Wah|Po Leung Kuk|Yan Chai|Kwong Wah|Queen Mary|Tai Tam|Shek O|Siu Lam
"""
NOT_NAMES: frozenset[str] = frozenset(p.strip().casefold() for p in _NOT_NAMES.split("|") if p.strip())

# Chinese surnames (traditional and simplified), compound ones first so they match whole.
CHINESE_COMPOUND_SURNAMES = ("歐陽", "欧阳", "司徒", "上官", "諸葛", "诸葛", "司馬", "司马", "尉遲", "公孫")
_CHINESE = (
    "陳陈李張张黃黄何林梁劉刘吳吴王鄭郑楊杨蔡曾郭周謝谢羅罗馮冯葉叶鄧邓許许蘇苏朱盧卢胡潘袁莫麥麦"
    "鍾钟馬马譚谭余嚴严陸陆高石方彭唐趙赵孫孙徐杜姚傅丘邱韋韦程施關关區区岑溫温江鄺邝黎雷龍龙湯汤"
    "鄒邹柯冼戴廖范顏颜伍甘侯孔駱骆湯容白崔賴赖翁魏童韓韩"
)
CHINESE_SURNAMES: frozenset[str] = frozenset(_CHINESE)
# Forms of address after a Chinese name: 先生 (Mr), 小姐 (Miss), 女士 (Ms), 太太 (Mrs).
CHINESE_TITLES = ("先生", "小姐", "女士", "太太", "夫人", "醫生", "医生", "經理", "经理")
